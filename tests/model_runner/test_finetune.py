"""LoRA fine-tunes on the runner: they learn, save standard adapters, and share the device."""

from __future__ import annotations

import asyncio
import json

import pytest
import torch
from peft import PeftModel

from model_runner.protocol import (
    CancelFineTune,
    DecodingParams,
    FineTuneParams,
    FineTuneProgress,
    Generate,
    InvalidRequest,
    JobNotFound,
    ListAdapters,
    StartFineTune,
)
from model_runner.runner import ModelRunner, RunnerConfig
from model_runner.tiny import build_tiny

RECIPES = [f"Mix {n} eggs with flour, then bake the cake for {n + 20} minutes." for n in range(20)]


@pytest.fixture
async def runner(tmp_path):
    runner = ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path))
    await runner.wait_ready()
    yield runner
    await runner.close()


async def finished(runner, job_id: str, timeout: float = 120):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (status := await runner.call(FineTuneProgress(job_id))).status in ("queued", "running"):
        assert loop.time() < deadline, status
        await asyncio.sleep(0.05)
    return status


async def test_finetune_learns_and_saves_a_standard_adapter(runner, tmp_path):
    loaded = await runner.wait_ready()
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    params = FineTuneParams(epochs=5, learning_rate=5e-3, batch_size=4)
    started = await runner.call(StartFineTune("group-1-v1", RECIPES, params))
    assert started.status in ("queued", "running")
    status = await finished(runner, "group-1-v1")
    assert status.status == "done", status.error
    assert status.step == status.total_steps == 25
    assert sum(status.losses[-5:]) < sum(status.losses[:5])  # it learned the pattern
    # The shared model's weights are untouched.
    after = loaded.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # peft's standard format, loadable anywhere, with the record of its data.
    folder = tmp_path / "adapters" / "group-1-v1"
    record = json.loads((folder / "training.json").read_text())
    assert record["sentences"] == RECIPES and record["params"]["epochs"] == 5
    model, _ = build_tiny()
    assert isinstance(PeftModel.from_pretrained(model, str(folder)), PeftModel)
    # The runner decodes with it, beside the base model.
    prompt, greedy = "Mix", DecodingParams(max_new_tokens=12)
    tuned, base = await asyncio.gather(
        runner.call(Generate(prompt, greedy, "group-1-v1")), runner.call(Generate(prompt, greedy))
    )
    assert tuned.token_ids != base.token_ids
    assert [a.id for a in (await runner.call(ListAdapters())).adapters] == ["group-1-v1"]


async def test_the_class_keeps_getting_answers_while_a_group_trains(runner):
    params = FineTuneParams(epochs=20, batch_size=1)  # 400 steps
    await runner.call(StartFineTune("long-job", RECIPES, params))
    while (await runner.call(FineTuneProgress("long-job"))).step < 2:
        await asyncio.sleep(0.02)
    result = await runner.call(Generate("Once upon a time", DecodingParams(max_new_tokens=8)))
    assert len(result.token_ids) == 8
    assert (await runner.call(FineTuneProgress("long-job"))).status == "running"
    cancelled = await runner.call(CancelFineTune("long-job"))
    await asyncio.sleep(0.1)
    assert (await runner.call(FineTuneProgress("long-job"))).status == "cancelled"
    assert cancelled.step < 400


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda r: r.call(StartFineTune("a", [], FineTuneParams())), "sentences"),
        (lambda r: r.call(StartFineTune("a", ["x" * 501], FineTuneParams())), "sentences"),
        (lambda r: r.call(StartFineTune("../a", RECIPES, FineTuneParams())), "adapter"),
    ],
)
async def test_bad_requests_name_the_field(runner, call, field):
    with pytest.raises(InvalidRequest) as caught:
        await call(runner)
    assert caught.value.field == field


def test_params_are_checked():
    with pytest.raises(InvalidRequest, match="rank must be between 1 and 64"):
        FineTuneParams(rank=0)
    with pytest.raises(InvalidRequest, match="learning_rate must be between"):
        FineTuneParams(learning_rate=1.0)


async def test_finetune_over_http(runner):
    from aiohttp.test_utils import TestClient, TestServer

    from model_runner.client import HttpRunnerClient
    from model_runner.http import build_app

    server = TestClient(TestServer(build_app(runner)))
    await server.start_server()
    client = HttpRunnerClient(str(server.make_url("")).rstrip("/"))
    try:
        started = await client.call(StartFineTune("http-v1", RECIPES[:4], FineTuneParams(epochs=1)))
        assert started.adapter == "http-v1"
        while (status := await client.call(FineTuneProgress("http-v1"))).status in (
            "queued",
            "running",
        ):
            await asyncio.sleep(0.05)
        assert status.status == "done" and status.total_steps == 1
        assert [a.id for a in (await client.call(ListAdapters())).adapters] == ["http-v1"]
        with pytest.raises(JobNotFound, match="no fine-tune job 'nope'"):
            await client.call(FineTuneProgress("nope"))
    finally:
        await client.close()
        await server.close()


async def test_groups_fine_tunes_train_together_and_each_is_saved(runner, tmp_path):
    params = FineTuneParams(epochs=20, batch_size=2)
    names = [f"g{n}-v1" for n in range(3)]
    for name in names:
        started = await runner.call(StartFineTune(name, RECIPES[:8], params))
        assert started.status in ("queued", "running")
    together = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while together < 3 and loop.time() < deadline:
        statuses = [await runner.call(FineTuneProgress(name)) for name in names]
        together = max((s.together for s in statuses if s.status == "running"), default=0)
        if all(s.status == "done" for s in statuses):
            break
        await asyncio.sleep(0.01)
    assert together == 3  # all three in one training pass, none waiting for another
    for name in names:
        assert (await finished(runner, name)).status == "done"
        assert (tmp_path / "adapters" / name / "adapter_model.safetensors").exists()
        tuned = await runner.call(Generate("Mix", DecodingParams(max_new_tokens=3), name))
        assert tuned.token_ids and tuned.adapter == name


async def test_fine_tunes_beyond_the_places_are_queued_with_an_estimate(tmp_path):
    config = RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path, finetunes_together=1)
    runner = ModelRunner(config)
    try:
        params = FineTuneParams(epochs=20, batch_size=1)
        await runner.call(StartFineTune("g1-v1", RECIPES, params))
        await runner.call(StartFineTune("g2-v1", RECIPES[:2], FineTuneParams(epochs=1)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while loop.time() < deadline:  # the estimate comes once the first has a pace
            first = await runner.call(FineTuneProgress("g1-v1"))
            waiting = await runner.call(FineTuneProgress("g2-v1"))
            if first.eta_s and waiting.starts_in_s:
                break
            await asyncio.sleep(0.05)
        assert first.status == "running" and waiting.status == "queued"
        assert waiting.starts_in_s == pytest.approx(first.eta_s, rel=0.5, abs=2)
        await runner.call(CancelFineTune("g1-v1"))
        assert (await finished(runner, "g2-v1")).status == "done"
    finally:
        await runner.close()


async def test_a_trainstep_is_answered_while_a_long_fine_tune_trains(runner):
    from model_runner.protocol import TrainStep

    await runner.call(StartFineTune("g1-v1", RECIPES, FineTuneParams(epochs=20, batch_size=1)))
    result = await asyncio.wait_for(runner.call(TrainStep("Mix the eggs", steps=3)), 60)
    assert len(result.losses) == 4  # before, and after each of 3 steps
    assert (await runner.call(FineTuneProgress("g1-v1"))).status == "running"  # still at it
    await runner.call(CancelFineTune("g1-v1"))


async def test_too_many_trainsteps_at_once_are_told_to_retry(runner, monkeypatch):
    from model_runner import runner as runner_module
    from model_runner.protocol import RunnerBusy, TrainStep

    monkeypatch.setattr(runner_module, "TRAIN_STEPS_WAITING", 1)
    first = asyncio.create_task(runner.call(TrainStep("Mix the eggs", steps=10)))
    for _ in range(200):  # until the first is in the engine
        if runner._train_steps:
            break
        await asyncio.sleep(0.005)
    with pytest.raises(RunnerBusy, match="/trainstep runs waiting") as caught:
        await runner.call(TrainStep("Mix the flour", steps=1))
    assert caught.value.retry_after is not None
    assert len((await first).losses) == 11
