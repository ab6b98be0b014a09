"""/step through the emulator: a group builds a continuation one token at a time, picking
candidates or letting Greedy, Random Sampling and Contrastive Search pick and say why."""

from __future__ import annotations

import asyncio
import csv
import io
import re

import pytest

from bot import seeds
from model_runner.protocol import LAB_SETTINGS, DecodingParams, Generate, StepCandidates

PROMPT = "The best thing about AI is its ability to"
SEED = 20261204
METHOD_BUTTONS = ["Greedy", "Random Sampling", "Contrastive Search", "End", "Export path"]


@pytest.fixture(autouse=True)
def fixed_seed(monkeypatch):
    """Random Sampling's presses draw with one seed, the same every run: a fresh seed could
    draw the end of text and end a step-through that a test goes on with."""
    monkeypatch.setattr(seeds, "fresh_seed", lambda: SEED)


def labels(message) -> list[str]:
    return [c["label"] for row in message.components for c in row["components"]]


def candidates(message) -> list[str]:
    """The candidate buttons' labels, likeliest first."""
    shown = labels(message)
    return shown[: shown.index("Greedy")] if "Greedy" in shown else []


def field(message, start: str) -> str:
    """The value of the embed field whose name starts with `start`."""
    fields = message.embeds[0]["fields"]
    return next(f["value"] for f in fields if f["name"].startswith(start))


async def tokens_of(lab, step_id: int = 1) -> list[tuple[int, str, str | None]]:
    rows = await lab.bot.db.fetchall(
        "SELECT token_id, chosen_by, user_name FROM step_tokens WHERE step_through = ? "
        "ORDER BY position",
        (step_id,),
    )
    return [(r["token_id"], r["chosen_by"], r["user_name"]) for r in rows]


async def test_a_group_picks_tokens_and_lets_the_methods_pick(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    started = await ada.slash("step", prompt=PROMPT)
    message = started.message
    assert not started.ephemeral
    embed = message.embeds[0]
    assert embed["title"] == "Step-through · Pre-trained"
    assert embed["description"].startswith(f"**{PROMPT}**")
    assert embed["footer"]["text"].startswith("0 of 40 tokens · tiny")
    assert "Only Group 1 can press" in field(message, "Token 1")
    shown = candidates(message)
    assert len(shown) == 5 and all(re.search(r" · (\d+\.\d%|<0\.1%)$", s) for s in shown)
    assert labels(message)[5:] == METHOD_BUTTONS

    # A member picks the second candidate.
    second = shown[1]
    await ada.click(second, message=message)
    token = second.rsplit(" · ", 1)[0]
    assert f"**Ada** chose `{token}`" in field(message, "Token 1")
    assert "the 2nd likeliest candidate" in field(message, "Token 1")
    assert field(message, "Path").startswith(f"1. `{token}` · Ada")

    # Greedy picks before its explanation is revealed: what it chose, not why.
    likeliest = candidates(message)[0].rsplit(" · ", 1)[0]
    await ada.click("Greedy", message=message)
    hidden = field(message, "Token 2")
    assert f"**Greedy** chose `{likeliest}`" in hidden and "/lab reveal" in hidden
    await lab.actor("Ms Rivera", roles=["Instructor"]).slash("lab reveal")

    likeliest = candidates(message)[0].rsplit(" · ", 1)[0]
    await ada.click("Greedy", message=message)
    took = field(message, "Token 3")
    assert f"**Greedy** took `{likeliest}`: the model gives it the highest probability" in took

    await ada.click("Contrastive Search", message=message)
    why = field(message, "Token 4")
    assert "score = (1 − 0.6) × p − 0.6 × penalty" in why
    assert "highest cosine similarity to a token already in the text" in why
    table = why.split("```")[1].strip().splitlines()
    assert table[0].split() == ["token", "p", "penalty", "score"]
    rows = [line.removesuffix(" ◀").rsplit(None, 3) for line in table[1:]]
    assert len(rows) == LAB_SETTINGS["contrastive"]["top_k"]
    for _, p, penalty, score in rows:
        assert float(score) == pytest.approx(0.4 * float(p) - 0.6 * float(penalty), abs=1e-3)
    (winner,) = [line for line in table[1:] if line.endswith("◀")]
    assert float(winner.split()[-2]) == max(float(r[3]) for r in rows)
    assert field(message, "Path").splitlines()[-1].startswith(f"4. `{winner.split()[0]}`")

    await ada.click("Random Sampling", message=message)
    seed = int(re.search(r"drew `.+` at random with seed (\d+)", field(message, "Token 5"))[1])
    assert seed == SEED
    path = await tokens_of(lab)
    assert [(method, who) for _, method, who in path] == [
        ("member", "Ada"),
        ("greedy", "Ada"),
        ("greedy", "Ada"),
        ("contrastive", "Ada"),
        ("sampling", "Ada"),
    ]

    exported = await ada.click("Export path", message=message)
    assert exported.ephemeral
    files = {f.filename: f.data.decode() for f in exported.messages[-1].files}
    path = list(csv.DictReader(io.StringIO(files["step-through-1.csv"])))
    assert [r["Chosen by"] for r in path] == [
        "Ada",
        "Greedy",
        "Greedy",
        "Contrastive Search",
        "Random Sampling",
    ]
    assert [r["Pressed by"] for r in path] == ["Ada"] * 5
    assert path[0]["Token"] == token and path[0]["Why"] == "picked by a member (candidate 2)"
    assert path[1]["Why"] == path[2]["Why"] == "the highest probability"  # revealed by now
    assert path[3]["Penalty"] and path[3]["Score"]
    assert path[4]["Seed"] == str(seed)
    assert all(0 < float(r["Probability"]) < 1 for r in path)
    assert f"- Prompt: {PROMPT}" in files["step-through-1.md"]
    assert "| 5 |" in files["step-through-1.md"]

    await ada.click("End", message=message)
    assert labels(message) == ["Export path"]
    assert "Ended with End." in field(message, "Finished")
    assert not message.embeds[0]["description"].endswith("▏")


async def test_greedy_presses_write_what_generate_writes(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    message = (await ada.slash("step", prompt=PROMPT)).message
    for _ in range(4):
        await ada.click("Greedy", message=message)
    generated = await lab.bot.runner.call(Generate(PROMPT, DecodingParams(max_new_tokens=4)))
    assert [t for t, _, _ in await tokens_of(lab)] == generated.token_ids


async def test_only_the_groups_members_may_press(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    message = (await ada.slash("step", prompt=PROMPT)).message
    refused = await lab.actor("Bob", roles=["Group 2"]).click("Greedy", message=message)
    assert refused.ephemeral and "This step-through is Group 1's" in refused.text
    assert "/step" in refused.text
    outsider = await lab.actor("Eve").click("Export path", message=message)
    assert outsider.ephemeral and "Group 1's" in outsider.text
    assert await tokens_of(lab) == []
    await lab.actor("Cleo", roles=["Group 1"]).click("Greedy", message=message)
    assert [who for _, _, who in await tokens_of(lab)] == ["Cleo"]


async def test_without_a_group_it_is_the_starters_own(lab):
    eve = lab.actor("Eve")
    message = (await eve.slash("step", prompt=PROMPT)).message
    refused = await lab.actor("Finn").click("Greedy", message=message)
    assert refused.ephemeral and "start your own with /step" in refused.text
    await eve.click("Greedy", message=message)
    assert len(await tokens_of(lab)) == 1


async def test_two_groups_step_at_the_same_time(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    bob = lab.actor("Bob", roles=["Group 2"])
    first, second = await asyncio.gather(
        ada.slash("step", prompt=PROMPT), bob.slash("step", prompt="Mix the flour")
    )
    await asyncio.gather(
        ada.click("Contrastive Search", message=first.message),
        bob.click("Greedy", message=second.message),
    )
    await asyncio.gather(
        ada.click(candidates(first.message)[0], message=first.message),
        bob.click("Random Sampling", message=second.message),
    )
    ids = {r["prompt"]: r["id"] for r in await lab.bot.db.fetchall("SELECT * FROM step_throughs")}
    ada_path = await tokens_of(lab, ids[PROMPT])
    bob_path = await tokens_of(lab, ids["Mix the flour"])
    assert [(m, who) for _, m, who in ada_path] == [("contrastive", "Ada"), ("member", "Ada")]
    assert [(m, who) for _, m, who in bob_path] == [("greedy", "Bob"), ("sampling", "Bob")]
    assert "Only Group 1" in field(first.message, "Token 3")
    assert "Only Group 2" in field(second.message, "Token 3")


async def test_two_presses_of_one_step_add_one_token(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    cleo = lab.actor("Cleo", roles=["Group 1"])
    message = (await ada.slash("step", prompt=PROMPT)).message
    replies = await asyncio.gather(
        ada.click("Greedy", message=message), cleo.click("Contrastive Search", message=message)
    )
    assert len(await tokens_of(lab)) == 1
    refused = [r for r in replies if r.ephemeral]
    assert len(refused) == 1 and "taken a moment ago" in refused[0].text


async def test_the_server_limit_ends_it_at_its_last_step(lab):
    await lab.actor("Ms Rivera", roles=["Instructor"]).slash("lab limits", max_tokens=2)
    ada = lab.actor("Ada", roles=["Group 1"])
    message = (await ada.slash("step", prompt=PROMPT)).message
    assert message.embeds[0]["footer"]["text"].startswith("0 of 2 tokens")
    await ada.click("Greedy", message=message)
    await ada.click("Greedy", message=message)
    assert labels(message) == ["Export path"]
    assert "That was the last step: 2 tokens" in field(message, "Finished")


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("   ", "The prompt is empty"),
        ("x" * 1001, "The prompt is too long (1001 characters; at most 1000)"),
        ("🙂" * 250, "too long for the model"),  # 1,000 tokens: no room for 40 more
    ],
)
async def test_bad_prompts_get_a_short_private_answer(lab, prompt, words):
    reply = await lab.actor("Ada", roles=["Group 1"]).slash("step", prompt=prompt)
    assert reply.ephemeral and words in reply.text
    assert await lab.bot.db.fetchall("SELECT id FROM step_throughs") == []


async def test_a_press_after_a_restart_goes_on(tmp_path):
    from tests.e2e.conftest import running_lab

    async with running_lab(tmp_path) as lab:
        ada = lab.actor("Ada", roles=["Group 1"])
        message = (await ada.slash("step", prompt=PROMPT)).message
        await ada.click(candidates(message)[2], message=message)
        await lab.restart_bot()
        await ada.click("Greedy", message=message)
        assert [m for _, m, _ in await tokens_of(lab)] == ["member", "greedy"]
        assert field(message, "Path").splitlines()[1].startswith("2. ")
        exported = await ada.click("Export path", message=message)
        assert exported.ephemeral and "2 tokens" in exported.text


async def test_what_a_member_chose_is_exported_and_deleted_on_request(lab):
    import json

    ada = lab.actor("Ada", roles=["Group 1"])
    message = (await ada.slash("step", prompt=PROMPT)).message
    await ada.click(candidates(message)[0], message=message)
    mine = json.loads((await ada.slash("privacy export")).message.files[0].data)
    assert [s["prompt"] for s in mine["step_throughs_started"]] == [PROMPT]
    assert [(t["position"], t["chosen_by"]) for t in mine["step_tokens_chosen"]] == [(1, "member")]
    await ada.slash("privacy delete")
    done = await ada.click("Delete my data")
    deleted = done.message.content
    assert "1 step-through you started and 1 step-through token you chose" in deleted
    row = await lab.bot.db.fetchone("SELECT user_id, user_name FROM step_tokens")
    assert (row["user_id"], row["user_name"]) == (None, None)
    started = await lab.bot.db.fetchone("SELECT started_by FROM step_throughs")
    assert started["started_by"] is None
    # The group's path stays; the next step shows no name.
    await lab.actor("Cleo", roles=["Group 1"]).click("Greedy", message=message)
    assert field(message, "Path").startswith("1. ") and "a former member" in field(message, "Path")


async def test_the_groups_fine_tuned_model_steps_as_its_generate_writes(lab):
    from tests.e2e.test_finetune_models import PROMPT as RECIPE
    from tests.e2e.test_finetune_models import trained_group

    ada = await trained_group(lab)
    message = (await ada.slash("step", prompt=RECIPE, model="fine-tuned")).message
    assert message.embeds[0]["title"] == "Step-through · Fine-tuned v1"
    for _ in range(3):
        if "Greedy" in labels(message):  # the fine-tuned model may end the text early
            await ada.click("Greedy", message=message)
    adapter = (await lab.bot.db.fetchone("SELECT adapter FROM finetune_jobs"))["adapter"]
    params = DecodingParams(max_new_tokens=3)
    generated = await lab.bot.runner.call(Generate(RECIPE, params, adapter))
    assert [t for t, _, _ in await tokens_of(lab)] == generated.token_ids
    pretrained = await lab.bot.runner.call(Generate(RECIPE, params))
    assert generated.token_ids != pretrained.token_ids  # the adapter was used


async def seed_drawing_the_end_of_text(lab, prompt: str) -> int:
    """A seed at which Random Sampling's first pick after `prompt` is the end of text."""
    for first in range(0, 4000, 100):
        results = await asyncio.gather(
            *(
                lab.bot.runner.call(
                    StepCandidates(prompt, [], params=DecodingParams(method="sampling", seed=s))
                )
                for s in range(first, first + 100)
            )
        )
        for result in results:
            if result.pick.token.id == result.end_of_text:
                return result.pick.seed
    raise AssertionError("no seed below 4000 draws the end of text here")


async def test_random_sampling_that_draws_the_end_of_text_ends_the_step_through(lab, monkeypatch):
    prompt = "I like"  # the tiny model ranks the end of text 27th here, inside top-k 50
    seed = await seed_drawing_the_end_of_text(lab, prompt)
    monkeypatch.setattr(seeds, "fresh_seed", lambda: seed)
    ada = lab.actor("Ada", roles=["Group 1"])
    message = (await ada.slash("step", prompt=prompt)).message
    await ada.click("Random Sampling", message=message)
    assert labels(message) == ["Export path"]
    assert "The text ended" in field(message, "Finished")
    assert "**Random Sampling** chose `⏎ end of text`" in field(message, "Token 1")
    (row,) = await tokens_of(lab)
    assert row[1:] == ("sampling", "Ada")
    assert (await lab.bot.db.fetchone("SELECT ended FROM step_throughs"))["ended"] == "eos"
