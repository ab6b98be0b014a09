"""Every fine-tune run reaches an end: Discord errors while following, a lost answer, a
runner that restarts or stays away, runs nobody decides on, and /finetune cancel."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.storage import finetune_jobs
from model_runner.protocol import CancelFineTune, FineTuneProgress, RunnerUnavailable
from tests.e2e.conftest import running_lab
from tests.e2e.test_finetune_jobs import fill_pool, wait_for_text
from tests.model_runner.test_adapters import save_adapter

EDIT = "/channels/{channel_id}/messages/{message_id}"


def live(module: str):
    """The extension module the running bot uses (discord.py re-imports an extension's
    modules each time a bot loads it, so an import at the top of a test can be stale)."""
    return sys.modules[module]


@contextlib.contextmanager
def engine_held(lab):
    """Hold the model's worker (training makes no progress) so a run stays running."""
    engine = lab.bot.runner._runner._engine
    gate = threading.Event()
    engine.call(lambda: gate.wait(60))
    try:
        yield
    finally:
        gate.set()


async def status_of(lab, version: int = 1) -> str:
    row = await lab.bot.db.fetchone(
        "SELECT status FROM finetune_jobs WHERE version = ?", (version,)
    )
    return row["status"]


async def wait_for_status(lab, wanted: str, version: int = 1, timeout: float = 120) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await status_of(lab, version) == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"v{version} is {await status_of(lab, version)!r}, not {wanted!r}")


def progress_messages(lab) -> list:
    return [m for m in lab.emulator.messages.values() if "fine-tuning `" in m.text()]


@pytest.mark.parametrize("status", [404, 403])
async def test_discord_errors_on_the_progress_message_do_not_orphan_the_run(lab, status):
    ada = lab.actor("Ada", roles=["Group 1"])
    await fill_pool(ada)
    await ada.slash("finetune start", epochs=3)
    first = (await lab.bot.db.fetchone("SELECT message_id FROM finetune_jobs"))["message_id"]
    # Every edit of the progress message fails for a while (deleted by a moderator: 404;
    # the bot lost its permission for a moment: 403).
    lab.emulator.fail_next("PATCH", EDIT, status=status, count=3)
    fault = lab.emulator.faults[-1]
    await wait_for_text(lab, "fine-tune finished")
    assert await status_of(lab) == "done"
    if status == 404 and fault.count < 3:  # an edit met the deleted message: posted anew
        final = [m for m in progress_messages(lab) if m.text().startswith("✅")]
        shown = (await lab.bot.db.fetchone("SELECT message_id FROM finetune_jobs"))["message_id"]
        assert final and int(final[-1].payload["id"]) == shown != first
    again = await ada.slash("generate", prompt="Whisk", model="fine-tuned", max_tokens=3)
    assert not again.ephemeral


async def test_a_lost_answer_to_a_run_awaiting_approval_does_not_block_the_group(lab):
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    await teacher.slash("lab approval", required=True)
    ada = lab.actor("Ada", roles=["Group 1"])
    await fill_pool(ada)
    lab.emulator.fail_next(
        "PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", status=403
    )
    await ada.slash("finetune start", epochs=1)
    assert await status_of(lab) == "cancelled"  # no buttons were shown: withdrawn
    again = await ada.slash("finetune start", epochs=1)
    assert "waiting for an instructor to approve" in again.text
    assert await status_of(lab, 2) == "awaiting"


async def test_a_finished_adapter_is_done_after_a_restart_not_failed(tmp_path):
    async with running_lab(tmp_path) as lab:
        ada = lab.actor("Ada", roles=["Group 1"])
        await ada.slash("finetune add", text="Whisk the eggs.")  # registers the group
        group = await lab.bot.db.fetchone("SELECT id FROM lab_groups")
        record = await finetune_jobs.create(
            lab.bot.db,
            guild_id=lab.emulator.guild.id,
            group_id=group["id"],
            started_by=ada.member.id,
            sentences=["Whisk the eggs."] * 20,
            params={"epochs": 1, "learning_rate": 0.002, "rank": 4},
            channel_id=lab.emulator.guild.channel_named("lab").id,
        )
        # Training finished and saved its adapter, then everything restarted before the bot
        # recorded it: the runner no longer knows the job, but the adapter is on disk.
        save_adapter(tmp_path / "adapters" / record.adapter, seed=1)
        await lab.restart_bot()
        await wait_for_status(lab, "done")
        await wait_for_text(lab, "fine-tune finished (while the bot or the model runner")


async def test_a_runner_that_stays_unreachable_fails_the_run_after_a_deadline(lab, monkeypatch):
    follow = live("bot.exts.finetune._follow")
    monkeypatch.setattr(follow.DEADLINES, "unreachable_s", 0.5)
    monkeypatch.setattr(follow, "POLL_S", 0.05)
    ada = lab.actor("Ada", roles=["Group 1"])
    await fill_pool(ada)

    call = lab.bot.runner.call

    async def unreachable(op):
        if isinstance(op, FineTuneProgress):
            raise RunnerUnavailable("connection refused")
        return await call(op)

    monkeypatch.setattr(lab.bot.runner, "call", unreachable)
    await ada.slash("finetune start", epochs=20)
    await wait_for_status(lab, "failed", timeout=30)
    await wait_for_text(lab, "could not be reached for")
    monkeypatch.undo()
    await lab.bot.runner.call(CancelFineTune(f"g{lab.emulator.guild.id}-group1-v1"))


async def test_runs_nobody_decides_on_are_withdrawn_after_a_day(lab):
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    await teacher.slash("lab approval", required=True)
    ada = lab.actor("Ada", roles=["Group 1"])
    await fill_pool(ada)
    await ada.slash("finetune start", epochs=1)
    runs = lab.bot.get_cog("FineTuning").runs
    await runs.sweep(now=datetime.now(UTC) + timedelta(hours=1))
    assert await status_of(lab) == "awaiting"
    await runs.sweep(now=datetime.now(UTC) + timedelta(hours=25))
    assert await status_of(lab) == "cancelled"
    await wait_for_text(lab, "no instructor approved it within 24 hours")
    assert "waiting for an instructor" in (await ada.slash("finetune start", epochs=1)).text


async def test_a_group_cancels_its_own_run_and_an_instructor_anyone_s(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    await fill_pool(ada)
    nothing = await ada.slash("finetune cancel")
    assert nothing.ephemeral and "has no fine-tune waiting or training" in nothing.text
    with engine_held(lab):
        await ada.slash("finetune start", epochs=20)
        cancelled = await ada.slash("finetune cancel")
    assert "was cancelled; nothing was saved" in cancelled.text
    assert await status_of(lab) == "cancelled"

    bea = lab.actor("Bea", roles=["Group 2"])
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    with engine_held(lab):
        await ada.slash("finetune start", epochs=20)
        refused = await bea.slash("finetune cancel", group="Group 1")
        assert refused.ephemeral and "Only instructors" in refused.text
        assert await status_of(lab, 2) == "running"
        unknown = await teacher.slash("finetune cancel", group="Group 9")
        assert unknown.ephemeral and 'no group named "Group 9"' in unknown.text
        stopped = await teacher.slash("finetune cancel", group="Group 1")
    assert "Group 1 v2 was cancelled" in stopped.text
    assert await status_of(lab, 2) == "cancelled"
    # The group can start again at once.
    assert "fine-tuning on 24 sentences" in (await ada.slash("finetune start", epochs=1)).text
    await wait_for_status(lab, "done", version=3)
