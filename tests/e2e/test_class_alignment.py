"""Aligning the model with the class's votes through the emulator: closed votes become
preference pairs, /vote align trains by DPO with progress, and /generate and /vote compare
use the class-aligned model."""

from __future__ import annotations

import asyncio
import json

from tests.e2e.conftest import running_lab
from tests.e2e.test_class_vote import letters_of, open_vote, vote_message
from tests.e2e.test_finetune_jobs import wait_for_text

PROMPTS = ("The best thing about AI is its ability to", "Mix the flour")


async def closed_vote(lab, teacher, prompt: str, number: int, winner: str = "contrastive"):
    """A vote that `winner` wins 2 to 1."""
    await open_vote(lab, teacher, prompt=prompt, seed=number)  # the same texts every run
    letters = {method: letter for letter, method in (await letters_of(lab, number)).items()}
    runner_up = "greedy" if winner != "greedy" else "beam"
    for name, method in (("Ada", winner), ("Bo", winner), ("Cy", runner_up)):
        await lab.actor(name, roles=["Group 1"]).click(
            letters[method], message=vote_message(lab, number)
        )
    await teacher.slash("vote close", number=number)


async def test_closed_votes_align_the_model_and_generate_uses_it(lab):
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    ada = lab.actor("Ada", roles=["Group 1"])
    refused = await ada.slash("vote align")
    assert refused.ephemeral and "instructors only" in refused.text
    nothing = await teacher.slash("vote align")
    assert nothing.ephemeral and "No closed vote has a single winner" in nothing.text
    none_yet = await ada.slash("generate", prompt=PROMPTS[0], model="class-aligned")
    assert none_yet.ephemeral and "no aligned model yet" in none_yet.text

    for number, prompt in enumerate(PROMPTS, start=1):
        await closed_vote(lab, teacher, prompt, number)
    started = await teacher.slash("vote align", epochs=2)
    assert not started.ephemeral
    run = await lab.bot.db.fetchone("SELECT * FROM alignment_runs")
    pairs = json.loads(run["pairs"])
    assert f"on {len(pairs)} preference pairs from votes 1, 2" in started.text
    # Each pair: a vote's winner over another of its continuations.
    outputs = {
        r["number"]: json.loads(r["outputs"])
        for r in await lab.bot.db.fetchall("SELECT number, outputs FROM class_votes")
    }
    assert {p["chosen"] for p in pairs} == {outputs[1]["contrastive"], outputs[2]["contrastive"]}
    assert all(p["rejected"] != p["chosen"] for p in pairs)
    again = await teacher.slash("vote align")
    assert again.ephemeral and "already being aligned" in again.text

    done = await wait_for_text(lab, "Class-aligned v1** finished")
    assert done.files[0].filename == "alignment-loss.png"
    text = done.text()
    assert "the class-aligned model does in" in text and f"of {len(pairs)}." in text
    assert "**Implicit reward margin**" in text and "0 in every pair" in text
    record = await lab.bot.db.fetchone("SELECT status, results FROM alignment_runs")
    assert record["status"] == "done"
    measured = json.loads(record["results"])["preference"]
    assert measured["pairs"] == len(pairs) and measured["mean_margin"] > 0
    assert f"positive in {measured['margin_positive']} of {len(pairs)} pairs" in text

    tuned = await ada.slash(
        "generate", prompt="Once upon a time", max_tokens=6, model="class-aligned"
    )
    assert tuned.message.embeds[0]["title"] == "Greedy · Class-aligned v1"
    choices = await ada.autocomplete("generate", "model", "aligned", prompt="x")
    assert [c["value"] for c in choices] == ["class-aligned"]
    side = await lab.actor("Eve").slash("vote compare", prompt="Once upon a time", max_tokens=6)
    fields = [f["name"] for f in side.message.embeds[0]["fields"]]
    assert fields == ["Pre-trained", "Class-aligned v1"]
    assert f"learned from {len(pairs)} preference pairs" in side.message.embeds[0]["footer"]["text"]
    missing = await ada.slash("vote compare", prompt="Once", version=4)
    assert missing.ephemeral and "no class-aligned version 4: there is 1" in missing.text

    mine = json.loads((await teacher.slash("privacy export")).message.files[0].data)
    assert [(a["version"], a["votes"]) for a in mine["alignments_started"]] == [(1, [1, 2])]


async def test_an_alignment_reaches_an_end_across_a_restart(tmp_path):
    async with running_lab(tmp_path) as lab:
        teacher = lab.actor("Ms Rivera", roles=["Instructor"])
        await closed_vote(lab, teacher, PROMPTS[0], 1)
        await teacher.slash("vote align", epochs=20)
        await lab.restart_bot()  # the in-process runner restarts with it
        status = await ended_status(lab)
        assert status in ("done", "failed")
        if status == "failed":  # stopped with the runner: the class is told
            await wait_for_text(lab, "the alignment failed")
        # Either way the class may align again.
        await teacher.slash("vote align", epochs=1)
        await wait_for_text(lab, "Class-aligned v2** finished")


async def ended_status(lab, timeout: float = 60) -> str:
    """The first alignment run's status once it is no longer running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        record = await lab.bot.db.fetchone("SELECT status FROM alignment_runs WHERE version = 1")
        if record["status"] != "running":
            return record["status"]
        await asyncio.sleep(0.1)
    raise AssertionError("the alignment never ended")
