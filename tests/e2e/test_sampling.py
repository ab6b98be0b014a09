"""/generate, /compare, groups and tables through the emulator (tiny model)."""

from __future__ import annotations

import asyncio
import csv
import io
import re

import pytest

from discord_emulator import ActionError
from tests.e2e.conftest import running_lab

PROMPT = "The best thing about AI is its ability to"


async def test_generate_defaults_to_greedy(lab):
    reply = await lab.actor("Ada").slash("generate", prompt=PROMPT, max_tokens=8)
    embed = reply.message.embeds[0]
    assert embed["title"] == "Greedy"
    assert "its ability to**" in embed["description"]  # the prompt's end in bold
    assert "tiny" in embed["footer"]["text"] and "Wh" in embed["footer"]["text"]
    assert not reply.ephemeral


async def test_generate_sampling_is_reproducible_with_a_seed(lab):
    ada = lab.actor("Ada")
    one = await ada.slash(
        "generate", prompt=PROMPT, method="Random Sampling", seed=42, max_tokens=10, temperature=1.5
    )
    two = await ada.slash(
        "generate", prompt=PROMPT, method="sampling", seed=42, max_tokens=10, temperature=1.5
    )
    assert one.message.embeds[0]["description"] == two.message.embeds[0]["description"]
    assert "temperature=1.5" in one.text and "seed=42" in one.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prompt": "   "}, "The prompt is empty"),
        ({"prompt": "x" * 1001}, "The prompt is too long (1001 characters; at most 1000)"),
        ({"prompt": PROMPT, "max_tokens": 500}, "max_tokens must be between 1 and 100"),
        (
            {"prompt": PROMPT, "method": "contrastive", "top_k": 50},
            "top_k must be between 1 and 20",
        ),
    ],
)
async def test_bad_input_gets_a_short_private_answer(lab, options, message):
    reply = await lab.actor("Ada").slash("generate", **options)
    assert reply.ephemeral and message in reply.text
    assert reply.interaction.response_type == 4  # answered at once, nothing posted publicly


async def test_discord_client_refuses_out_of_range_values(lab):
    with pytest.raises(ActionError, match="between 0.05 and 5"):
        await lab.actor("Ada").slash("generate", prompt=PROMPT, temperature=9)


async def test_compare_shows_the_four_methods_and_fills_the_group_table(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    reply = await ada.slash("compare", prompt=PROMPT, max_tokens=6, seed=1)
    embed = reply.message.embeds[0]
    assert [f["name"] for f in embed["fields"]] == [
        "Greedy",
        "5-Beam",
        "Contrastive Search",
        "Random Sampling",
    ]
    assert f"**{PROMPT}**" in embed["description"]
    assert "Saved to Group 1's table" in embed["footer"]["text"]

    assert "(max tokens 6, seed 1)" in embed["footer"]["text"]

    bea = lab.actor("Bea", roles=["Group 1"])  # same group, another member
    again = await bea.slash("compare", prompt=PROMPT, max_tokens=4)  # the bot picks a seed
    seed = re.search(r"max tokens 4, seed (\d+)\)", again.message.embeds[0]["footer"]["text"])
    assert seed, again.message.embeds[0]["footer"]["text"]
    table = await bea.slash("table show")
    assert "Group 1: 2 prompts" in table.text and "Decoding methods" in table.text
    assert PROMPT in table.text and "Greedy:" in table.text
    # Two runs of one prompt are told apart by their settings.
    assert "max tokens 6 · seed 1*" in table.text
    assert f"max tokens 4 · seed {seed[1]}*" in table.text

    export = await ada.slash("table export")
    files = {f.filename: f.data.decode() for f in export.message.files}
    rows = list(csv.reader(io.StringIO(files["group-1-decoding.csv"])))
    header = ["Prompt", "Greedy", "5-Beam", "Contrastive", "Random", "Max tokens", "Seed"]
    assert rows[0] == header
    assert [(r[0], r[5], r[6]) for r in rows[1:]] == [(PROMPT, "6", "1"), (PROMPT, "4", seed[1])]
    markdown = files["group-1-decoding.md"]
    assert "| Prompt | Greedy | 5-Beam | Contrastive | Random | Max tokens | Seed |" in markdown
    assert markdown.rstrip().endswith(f"| 4 | {seed[1]} |")


async def test_other_groups_tables_are_separate(lab):
    await lab.actor("Ada", roles=["Group 1"]).slash("compare", prompt=PROMPT, max_tokens=3)
    reply = await lab.actor("Cy", roles=["Group 2"]).slash("table show")
    assert reply.ephemeral and "Group 2's table is empty" in reply.text


async def test_long_continuations_are_cut_with_the_full_text_attached(tmp_path):
    async with running_lab(tmp_path, max_new_tokens=1000) as lab:
        # Greedy search on the random tiny model repeats one token: 1000 of them, no EOS.
        reply = await lab.actor("Ada").slash("generate", prompt=PROMPT, max_tokens=1000)
        full = reply.message.files[0].data.decode()
        assert len(full) > 2000 and full.startswith("Prompt: " + PROMPT)
        description = reply.message.embeds[0]["description"]
        assert len(description) <= 1600 and description.endswith("…")

        reply = await lab.actor("Ada").slash("compare", prompt=PROMPT, max_tokens=1000, seed=3)
        embed = reply.message.embeds[0]
        assert all(len(f["value"]) <= 1024 for f in embed["fields"])
        assert "== Greedy ==" in reply.message.files[0].data.decode()


async def test_group_join_and_leave_without_group_roles(lab):
    ada = lab.actor("Ada")
    reply = await ada.slash("group join", name="The Tokenizers")
    assert "You are now in **The Tokenizers**" in reply.text
    again = await ada.slash("group join", name="Other")
    assert again.ephemeral and "already in The Tokenizers" in again.text
    await lab.actor("Bea").slash("group join", name="the tokenizers")  # same group
    shown = await lab.actor("Bea").slash("group show")
    assert "The Tokenizers" in shown.text
    compare = await ada.slash("compare", prompt=PROMPT, max_tokens=3)
    assert "Saved to The Tokenizers's table" in compare.text
    assert "You left" in (await ada.slash("group leave")).text
    assert "not in a group" in (await ada.slash("group leave")).text


async def test_group_roles_replace_group_join(lab):
    reply = await lab.actor("Ada", roles=["Group 3"]).slash("group join", name="Mine")
    assert reply.ephemeral and "Groups on this server are roles" in reply.text
    two = await lab.actor("Dee", roles=["Group 1", "Group 2"]).slash("compare", prompt=PROMPT)
    assert two.ephemeral and "more than one group role" in two.text


async def test_a_burst_of_30_compares_is_acknowledged_within_3_s(lab):
    students = [lab.actor(f"Student {i}", roles=[f"Group {i % 7 + 1}"]) for i in range(30)]
    for student in students:
        student.timeout_s = 300
    replies = await asyncio.gather(
        *(
            s.slash("compare", prompt=f"Prompt number {i} is", max_tokens=8)
            for i, s in enumerate(students)
        )
    )
    for reply in replies:
        interaction = reply.interaction
        assert interaction.responded_at - interaction.created < 3.0
        assert len(reply.message.embeds[0]["fields"]) == 4
        assert not reply.message.content  # the queue note is gone once the result is in
    queued = [
        r for r in replies if any("queued ahead of yours" in c for c in r.message.earlier_contents)
    ]
    assert queued  # those who waited were told how many requests were ahead
