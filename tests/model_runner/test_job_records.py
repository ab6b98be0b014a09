"""Fine-tune jobs have one owner and a record every replica reads: a job's status does not
depend on which runner a request reaches, and outlives the runner that trained it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from model_runner import jobs
from model_runner.jobs import JobStore
from model_runner.protocol import (
    CancelFineTune,
    FineTuneParams,
    FineTuneProgress,
    FineTuneStatus,
    JobNotFound,
    ListAdapters,
    RunAlreadyActive,
    StartFineTune,
)
from model_runner.runner import ModelRunner, RunnerConfig
from tests.model_runner.test_finetune import RECIPES, finished

LONG = FineTuneParams(epochs=20, batch_size=1)  # 400 steps: still training while we look


@pytest.fixture(autouse=True)
def quick_beats(monkeypatch):
    monkeypatch.setattr(jobs, "BEAT_S", 0.05)


@pytest.fixture
async def replicas(tmp_path):
    """Two runners sharing one adapter store, as two replicas on a cluster do."""
    pair = [
        ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path)) for _ in range(2)
    ]
    for runner in pair:
        await runner.start()
        await runner.wait_ready()
    yield pair
    for runner in pair:
        await runner.close()


async def until(predicate, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_job_trained_on_one_replica_is_read_and_used_on_the_other(replicas, tmp_path):
    a, b = replicas
    await a.call(StartFineTune("g1-v1", RECIPES[:4], FineTuneParams(epochs=2)))
    status = await finished(b, "g1-v1")  # asked of the replica that does not train it
    assert status.status == "done" and status.total_steps == 2 and len(status.losses) == 2
    assert [x.id for x in (await b.call(ListAdapters())).adapters] == ["g1-v1"]
    record = json.loads((tmp_path / "jobs" / "g1-v1.json").read_text())
    assert record["owner"] == a.jobs.owner and record["status"] == "done"
    assert record["request"]["sentences"] == RECIPES[:4]  # what it trained on, kept


async def test_progress_is_visible_from_every_replica_while_it_trains(replicas):
    a, b = replicas
    await a.call(StartFineTune("g1-v1", RECIPES, LONG))

    async def moving():
        return (await b.call(FineTuneProgress("g1-v1"))).step > 0

    await until(moving)
    assert (await b.call(FineTuneProgress("g1-v1"))).status == "running"
    with pytest.raises(RunAlreadyActive):  # the other replica will not start it twice
        await b.call(StartFineTune("g1-v1", RECIPES, LONG))
    await a.call(CancelFineTune("g1-v1"))


async def test_a_cancel_reaching_the_other_replica_stops_the_job(replicas, tmp_path):
    a, b = replicas
    await a.call(StartFineTune("g1-v1", RECIPES, LONG))
    await b.call(CancelFineTune("g1-v1"))  # B does not train it: asks its owner

    async def cancelled():
        return (await b.call(FineTuneProgress("g1-v1"))).status == "cancelled"

    await until(cancelled)
    assert (await a.call(FineTuneProgress("g1-v1"))).status == "cancelled"
    assert not (tmp_path / "adapters" / "g1-v1").exists()  # nothing saved
    assert not (tmp_path / "jobs" / "g1-v1.cancel").exists()


async def test_a_replica_that_stops_records_its_unfinished_jobs(replicas):
    a, b = replicas
    await a.call(StartFineTune("g1-v1", RECIPES, LONG))
    await a.call(StartFineTune("g2-v1", RECIPES, LONG))  # queued behind the first
    await a.close()  # replaced: a rolling update, a scale-down
    for job_id in ("g1-v1", "g2-v1"):
        status = await b.call(FineTuneProgress(job_id))
        assert status.status == "failed" and status.error == jobs.STOPPED
    # The group can run it again on the replica that is left.
    again = await b.call(StartFineTune("g1-v1", RECIPES[:4], FineTuneParams(epochs=1)))
    assert again.status in ("queued", "running")
    assert (await finished(b, "g1-v1")).status == "done"


async def test_a_replica_that_crashed_is_noticed_and_its_job_recorded_as_failed(tmp_path):
    store = JobStore(tmp_path / "jobs", owner="gpu-7-1234-dead", stale_s=0.2)
    store.beat()
    running = FineTuneStatus(job_id="g1-v1", adapter="g1-v1", status="running", step=3)
    store.write(running, request={"sentences": ["x"]})
    reader = JobStore(tmp_path / "jobs", owner="gpu-8-99-live", stale_s=0.2)
    assert reader.read("g1-v1").status == "running"  # its owner beat just now
    await asyncio.sleep(0.3)  # ...and never again
    lost = reader.read("g1-v1")
    assert lost.status == "failed" and lost.error == jobs.LOST and lost.step == 3
    record = json.loads((tmp_path / "jobs" / "g1-v1.json").read_text())
    assert record["status"] == "failed" and record["request"] == {"sentences": ["x"]}


async def test_a_job_saved_just_before_its_runner_stopped_is_done(replicas, tmp_path):
    a, b = replicas
    await a.call(StartFineTune("g1-v1", RECIPES[:4], FineTuneParams(epochs=1)))
    await finished(a, "g1-v1")
    # As if the runner had stopped between saving the adapter and recording the end.
    stale = FineTuneStatus(job_id="g1-v1", adapter="g1-v1", status="failed", error=jobs.LOST)
    JobStore(tmp_path / "jobs", owner="gone").write(stale)
    assert (await b.call(FineTuneProgress("g1-v1"))).status == "done"


async def test_unknown_jobs_and_damaged_records(replicas, tmp_path):
    _, b = replicas
    with pytest.raises(JobNotFound):
        await b.call(FineTuneProgress("never-started"))
    (tmp_path / "jobs").mkdir(exist_ok=True)
    (tmp_path / "jobs" / "broken.json").write_text("{not json")
    with pytest.raises(JobNotFound):
        await b.call(FineTuneProgress("broken"))


async def test_a_half_written_adapter_is_never_listed(replicas, tmp_path):
    _, b = replicas
    partial = tmp_path / "adapters" / ".g1-v1.0a1b2c3d.partial"
    partial.mkdir(parents=True)
    (partial / "adapter_config.json").write_text("{}")
    assert (await b.call(ListAdapters())).adapters == []
