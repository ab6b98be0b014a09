"""Fine-tunes too big to interleave with decoding run apart (`finetune.standalone`): the
runner queues them under the name of a process of their own, which owns the job from then on.

Here that process is a thread (no Ray): what matters is that the job's record, not the
runner that queued it, says how the job stands, and that the adapter lands in the store.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from model_runner import jobs
from model_runner.finetune.standalone import train_job
from model_runner.jobs import JobStore
from model_runner.protocol import (
    CancelFineTune,
    DecodingParams,
    FineTuneParams,
    FineTuneProgress,
    Generate,
    StartFineTune,
)
from model_runner.runner import ModelRunner, RunnerConfig
from tests.model_runner.test_finetune import RECIPES, finished

STALE_S = 1.0


@pytest.fixture(autouse=True)
def quick_beats(monkeypatch):
    monkeypatch.setattr(jobs, "BEAT_S", 0.05)
    monkeypatch.setattr(jobs, "WRITE_EVERY_S", 0.05)


def config(tmp_path, **overrides) -> RunnerConfig:
    fields = {"model": "tiny", "device": "cpu", "data_dir": tmp_path, "job_stale_s": STALE_S}
    return RunnerConfig(**{**fields, "interleave_max_steps": 3, **overrides})


@pytest.fixture
async def runner(tmp_path):
    runner = ModelRunner(config(tmp_path))
    await runner.start()
    await runner.wait_ready()
    yield runner
    await runner.close()


def in_a_thread(tmp_path, started: list):
    """A hand-off that trains the job in a thread, as a Ray worker would in a process."""

    def hand_off(job_id: str, owner: str) -> None:
        thread = threading.Thread(
            target=train_job,
            args=(job_id, owner),
            kwargs={"data_dir": tmp_path, "model": "tiny", "device": "cpu", "stale_s": STALE_S},
        )
        started.append((job_id, owner, thread))
        thread.start()

    return hand_off


def record(tmp_path, job_id: str) -> dict:
    return json.loads((tmp_path / "jobs" / f"{job_id}.json").read_text())


async def test_a_long_fine_tune_trains_apart_and_its_adapter_is_served(runner, tmp_path):
    started: list = []
    runner.hand_off = in_a_thread(tmp_path, started)
    short = await runner.call(StartFineTune("g1-v1", RECIPES[:4], FineTuneParams(epochs=1)))
    assert not started  # 1 step: trained between decode steps, as before
    assert (await finished(runner, "g1-v1")).status == "done"

    queued = await runner.call(StartFineTune("g2-v1", RECIPES[:8], FineTuneParams(epochs=4)))
    assert queued.status == "queued" and short.job_id == "g1-v1"
    ((job_id, owner, thread),) = started
    assert job_id == "g2-v1" and owner != runner.jobs.owner
    done = await finished(runner, "g2-v1")
    assert done.status == "done", done.error
    assert done.step == done.total_steps == 4 and len(done.losses) == 4
    assert record(tmp_path, "g2-v1")["owner"] == owner  # the process, not the runner, owned it
    training = json.loads((tmp_path / "adapters" / "g2-v1" / "training.json").read_text())
    assert training["sentences"] == RECIPES[:8] and training["losses"] == done.losses
    tuned = await runner.call(Generate("Mix", DecodingParams(max_new_tokens=3), adapter="g2-v1"))
    assert len(tuned.token_ids) == 3
    await asyncio.to_thread(thread.join, 10)
    assert not (tmp_path / "jobs" / "owners" / owner).exists()  # it retired when it ended


async def test_a_job_apart_is_cancelled_from_any_runner(runner, tmp_path):
    started: list = []
    runner.hand_off = in_a_thread(tmp_path, started)
    long = FineTuneParams(epochs=20, batch_size=1)  # 400 steps
    await runner.call(StartFineTune("g3-v1", RECIPES, long))
    other = ModelRunner(config(tmp_path))  # another replica sharing the store
    await other.start()
    await other.wait_ready()
    try:
        deadline = time.monotonic() + 60
        while (await other.call(FineTuneProgress("g3-v1"))).step == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await other.call(CancelFineTune("g3-v1"))
        status = await finished(runner, "g3-v1", timeout=30)
    finally:
        await other.close()
    assert status.status == "cancelled" and status.step < status.total_steps
    assert not (tmp_path / "adapters" / "g3-v1").exists()  # nothing saved


async def test_a_job_waiting_for_its_process_stays_queued_and_can_be_cancelled(runner, tmp_path):
    handed: list = []
    runner.hand_off = lambda job_id, owner: handed.append((job_id, owner))  # never starts
    await runner.call(StartFineTune("g4-v1", RECIPES[:8], FineTuneParams(epochs=4)))
    await asyncio.sleep(3 * STALE_S)  # the runner beats for it while it waits
    assert (await runner.call(FineTuneProgress("g4-v1"))).status == "queued"
    await runner.call(CancelFineTune("g4-v1"))
    assert (await finished(runner, "g4-v1", timeout=10)).status == "cancelled"
    # Its process, starting late, finds the job ended and trains nothing.
    ((job_id, owner),) = handed
    late = await asyncio.to_thread(
        train_job, job_id, owner, data_dir=tmp_path, model="tiny", device="cpu"
    )
    assert late.status == "cancelled" and not (tmp_path / "adapters" / "g4-v1").exists()


async def test_a_queued_job_whose_runner_died_is_recorded_lost(tmp_path):
    runner = ModelRunner(config(tmp_path))
    await runner.start()
    await runner.wait_ready()
    handed: list = []
    runner.hand_off = lambda job_id, owner: handed.append((job_id, owner))
    await runner.call(StartFineTune("g5-v1", RECIPES[:8], FineTuneParams(epochs=4)))
    runner._beating.cancel()  # the runner's process dies: nobody beats for the job any more
    await asyncio.sleep(STALE_S * 1.5)
    reader = JobStore(tmp_path / "jobs", stale_s=STALE_S)
    lost = reader.read("g5-v1")
    assert lost is not None and lost.status == "failed" and lost.error == jobs.LOST
    ((job_id, owner),) = handed
    late = await asyncio.to_thread(
        train_job, job_id, owner, data_dir=tmp_path, model="tiny", device="cpu"
    )
    assert late.status == "failed" and not (tmp_path / "adapters" / "g5-v1").exists()
    await runner.close()


async def test_a_hand_off_the_cluster_refuses_is_recorded_failed(runner, tmp_path):
    def refuse(job_id: str, owner: str) -> None:
        raise RuntimeError("no node has a free GPU")

    runner.hand_off = refuse
    status = await runner.call(StartFineTune("g6-v1", RECIPES[:8], FineTuneParams(epochs=4)))
    assert status.status == "failed" and "no node has a free GPU" in status.error
    assert (await runner.call(FineTuneProgress("g6-v1"))).status == "failed"
    # The group may start it again (the failed record is not "already running").
    runner.hand_off = None
    again = await runner.call(StartFineTune("g6-v1", RECIPES[:8], FineTuneParams(epochs=4)))
    assert again.status in ("queued", "running")
    assert (await finished(runner, "g6-v1")).status == "done"
