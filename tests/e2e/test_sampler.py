"""/sampler through the emulator: Random Sampling stage by stage, and the drawn token replays."""

from __future__ import annotations

import re

import pytest

from discord_emulator import ActionError

PROMPT = "The best thing about AI is its ability to"


@pytest.fixture
async def revealed(lab):
    """The lab once the instructor has revealed Random Sampling."""
    await lab.actor("Ms Rivera", roles=["Instructor"]).slash("lab reveal", method="sampling")
    return lab


def table_rows(description: str) -> list[list[str]]:
    """The code-block table's rows: token, then one cell per stage."""
    block = description.split("```")[1].strip("\n").splitlines()
    return [line.removesuffix(" ◀").split() for line in block[1:]]


async def test_sampler_shows_each_stage_and_the_token_drawn(revealed):
    reply = await revealed.actor("Ada").slash(
        "sampler", prompt=PROMPT, temperature=1.5, top_k=5, top_p=0.6, seed=42
    )
    message = reply.message
    assert not reply.ephemeral
    assert message.files[0].filename == "sampler.png"
    assert message.files[0].data.startswith(b"\x89PNG")
    embed = message.embeds[0]
    assert embed["image"]["url"] == "attachment://sampler.png"
    left = embed["fields"][0]["value"]
    kept = [int(n.replace(",", "")) for n in re.findall(r": ([\d,]+)", left)]
    assert kept[0] == kept[1] > kept[2] == 5 >= kept[3] >= 1
    rows = table_rows(embed["description"])
    assert len(rows) == 10  # the drawn token is among the 5 kept, so no extra row
    (marked,) = [line for line in embed["description"].splitlines() if line.endswith("◀")]
    assert not marked.removesuffix(" ◀").endswith("×")
    # The top-k stage removed everything below the fifth token; top-p removed even more.
    assert all(row[-2] == "×" for row in rows[5:]) and all(row[-1] == "×" for row in rows[5:])
    assert "seed 42" in embed["fields"][1]["value"]
    assert (
        "/generate method:Random Sampling seed:42 temperature:1.5 top_k:5 top_p:0.6"
        in (embed["fields"][1]["value"])
    )


def drawn(reply) -> str:
    return re.search(r"`(.+?)` with probability", reply.message.embeds[0]["fields"][1]["value"])[1]


async def test_a_seed_replays_the_draw_and_a_fresh_one_is_shown(revealed):
    # (That the drawn token is /generate's first token with the seed: test_sampler_stages.py.)
    ada = revealed.actor("Ada")
    draws = {drawn(await ada.slash("sampler", prompt=PROMPT, seed=7)) for _ in range(2)}
    assert len(draws) == 1
    fresh = await ada.slash("sampler", prompt=PROMPT)
    seed = int(re.search(r"seed (\d+)", fresh.message.embeds[0]["fields"][1]["value"])[1])
    assert drawn(await ada.slash("sampler", prompt=PROMPT, seed=seed)) == drawn(fresh)


async def test_students_guess_before_the_instructor_reveals_sampling(lab):
    early = await lab.actor("Ada", roles=["Group 1"]).slash("sampler", prompt=PROMPT)
    assert early.ephemeral and "Not yet" in early.text and "/lab reveal" in early.text
    trying = await lab.actor("Ms Rivera", roles=["Instructor"]).slash("sampler", prompt=PROMPT)
    assert not trying.ephemeral and trying.message.files  # instructors can try it first
    await lab.actor("Ms Rivera", roles=["Instructor"]).slash("lab reveal", method="sampling")
    assert not (await lab.actor("Ada", roles=["Group 1"]).slash("sampler", prompt=PROMPT)).ephemeral


async def test_bad_values_get_a_short_private_answer(revealed):
    ada = revealed.actor("Ada")
    with pytest.raises(ActionError, match="top_p"):
        await ada.slash("sampler", prompt=PROMPT, top_p=0)
    empty = await ada.slash("sampler", prompt="   ")
    assert empty.ephemeral and "prompt is empty" in empty.text
