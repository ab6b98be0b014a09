"""/finetune start through the emulator: progress, the result, one job per group, restarts."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import running_lab

RECIPES = [f"Whisk {n} eggs, fold in the flour and bake for {n + 20} minutes." for n in range(24)]


async def fill_pool(actor, sentences=RECIPES):
    await actor.slash("finetune paste")
    await actor.submit_modal({"One sentence per line": "\n".join(sentences)})


async def wait_for_text(lab, text: str, timeout: float = 120):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for message in lab.emulator.messages.values():
            if text in message.text():
                return message
        await asyncio.sleep(0.1)
    raise AssertionError(f"no message with {text!r}")


async def test_a_group_fine_tunes_and_sees_the_result(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    await fill_pool(ada)
    reply = await ada.slash("finetune start", epochs=1)
    assert "Group 1 v1: fine-tuning on 24 sentences" in reply.text
    done = await wait_for_text(lab, "fine-tune finished")
    assert done.files[0].filename == "loss.png"
    fields = [f["name"] for f in done.embeds[0]["fields"]]
    assert fields[0].startswith("Pre-trained: ") and fields[1].startswith("Fine-tuned: ")
    record = await lab.bot.db.fetchone("SELECT * FROM finetune_jobs")
    assert record["status"] == "done" and record["started_by"] == ada.member.id
    assert "Whisk 0 eggs" in record["sentences"]


async def test_a_pool_too_small_and_one_job_per_group(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    await fill_pool(ada, RECIPES[:5])
    small = await ada.slash("finetune start")
    assert small.ephemeral and "needs at least 20" in small.text
    await fill_pool(ada, RECIPES[5:])
    await ada.slash("finetune start", epochs=20)
    again = await lab.actor("Bea", roles=["Group 1"]).slash("finetune start")
    assert again.ephemeral and "already has a fine-tune" in again.text
    # The class keeps getting answers meanwhile.
    other = await lab.actor("Cy", roles=["Group 2"]).slash("tokens", text="still here")
    assert "tokens for" in other.text


async def test_a_restart_marks_the_run_failed_and_keeps_the_pool(tmp_path):
    async with running_lab(tmp_path) as lab:
        ada = lab.actor("Ada", roles=["Group 1"])
        await fill_pool(ada)
        await ada.slash("finetune start", epochs=20)
        await lab.restart_bot()  # the in-process runner restarts with it
        await wait_for_text(lab, "the model runner was stopped before the fine-tune finished")
        await wait_for_text(lab, "Your pool is intact")
        record = await lab.bot.db.fetchone("SELECT status, error FROM finetune_jobs")
        assert record["status"] == "failed"
        assert "24 sentences" in (await ada.slash("finetune pool")).text
        again = await ada.slash("finetune start", epochs=1)
        assert "Group 1 v2" in again.text
        await wait_for_text(lab, "v2** fine-tune finished")
