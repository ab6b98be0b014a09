"""The bot, unchanged, against the runner on Ray Serve: two replicas on a local Ray, sharing
one adapter store; replicas killed mid-request and mid-fine-tune."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import time
import zipfile

import aiohttp
import pytest

serve = pytest.importorskip("ray.serve", reason="the serve extra (Ray Serve) is not installed")
ray = pytest.importorskip("ray")

from model_runner.client import HttpRunnerClient  # noqa: E402
from model_runner.protocol import (  # noqa: E402
    DecodingParams,
    FineTuneParams,
    FineTuneProgress,
    Generate,
    Info,
    RunnerError,
    StartFineTune,
)
from model_runner.serve import REPLICA_HEADER, application, start_serve  # noqa: E402
from tests.e2e.conftest import running_lab  # noqa: E402
from tests.e2e.test_finetune_jobs import RECIPES, fill_pool, wait_for_text  # noqa: E402

STALE_S = 3.0
APART_OVER = 480  # fine-tunes of more steps train in a Ray worker of their own


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def serve_url(store):
    """Ray on this machine, Serve's proxy on loopback, two replicas of the tiny model."""
    port = free_port()
    start_serve("127.0.0.1", port, num_cpus=4, log_to_driver=False)
    config = {
        "model": "tiny",
        "device": "cpu",
        "data_dir": store,
        "job_stale_s": STALE_S,
        "interleave_max_steps": APART_OVER,
        "max_new_tokens": 1000,  # a request long enough to be in flight when its replica dies
    }
    serve.run(application(config, replicas=2), name="labbot", route_prefix="/")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()


@pytest.fixture
async def client(serve_url):
    client = HttpRunnerClient(serve_url, timeout_s=60)
    deadline = time.monotonic() + 120
    while (await client.call(Info())).status != "ready":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    yield client
    await client.close()


def owner_pid(store, job_id: str) -> int:
    """The process of the replica that trains `job_id` (its record names its owner)."""
    owner = json.loads((store / "jobs" / f"{job_id}.json").read_text())["owner"]
    return int(owner.rsplit("-", 2)[1])


async def until_done(client, job_id: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = await client.call(FineTuneProgress(job_id))
        except RunnerError:  # a replica going away: ask again
            status = None
        if status is not None and status.status not in ("queued", "running"):
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.2)


async def test_the_bot_runs_unchanged_on_ray_serve(serve_url, client, tmp_path):
    async with running_lab(tmp_path / "bot", url=serve_url) as lab:
        ada = lab.actor("Ada", roles=["Group 1"])
        about = await ada.slash("about")
        assert "a separate model server" in about.text and "ready" in about.text
        generated = await ada.slash("generate", prompt="Whisk the eggs", max_tokens=4)
        assert not generated.ephemeral
        compared = await ada.slash("compare", prompt="Whisk the eggs", max_tokens=4)
        assert "Contrastive" in compared.text or compared.embeds
        await fill_pool(ada)
        await ada.slash("finetune start", epochs=1)
        await wait_for_text(lab, "fine-tune finished", timeout=180)
        tuned = await ada.slash("generate", prompt="Whisk", model="fine-tuned", max_tokens=3)
        assert not tuned.ephemeral
        download = await ada.slash("finetune download")
        (archive,) = download.message.files
        with zipfile.ZipFile(io.BytesIO(archive.data)) as z:
            assert any(name.endswith("adapter_config.json") for name in z.namelist())


async def test_an_adapter_trained_on_one_replica_is_served_by_the_other(serve_url, client, store):
    await client.call(StartFineTune("g77-v1", RECIPES[:4], FineTuneParams(epochs=1)))
    done = await until_done(client, "g77-v1")
    assert done.status == "done", done.error
    trainer = json.loads((store / "jobs" / "g77-v1.json").read_text())["owner"]
    os.kill(owner_pid(store, "g77-v1"), signal.SIGKILL)  # the replica that trained it dies
    body = {"prompt": "Mix", "params": {"max_new_tokens": 3}, "adapter": "g77-v1"}
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.post(
                    f"{serve_url}/v1/generate",
                    json=body,
                    headers={"serve_multiplexed_model_id": "g77"},
                ) as reply:
                    if reply.status == 200:
                        served_by = reply.headers[REPLICA_HEADER]
                        tokens = (await reply.json())["token_ids"]
                        break
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "no replica served the adapter"
            await asyncio.sleep(0.5)
    assert served_by != trainer and len(tokens) == 3


async def test_a_replica_killed_mid_finetune_and_mid_request(serve_url, client, store):
    await client.call(StartFineTune("g78-v1", RECIPES, FineTuneParams(epochs=20, batch_size=1)))
    deadline = time.monotonic() + 60
    while (await client.call(FineTuneProgress("g78-v1"))).step == 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    # A request on the same course goes to the same replica, which then dies under it.
    in_flight = asyncio.create_task(
        client.call(Generate("Mix", DecodingParams(max_new_tokens=900), adapter=None))
    )
    await asyncio.sleep(0.2)
    os.kill(owner_pid(store, "g78-v1"), signal.SIGKILL)
    try:
        await asyncio.wait_for(in_flight, timeout=90)  # answered by the other replica, or...
    except RunnerError as error:  # ...failed cleanly, with a message a student can read
        assert str(error)
    status = await until_done(client, "g78-v1", timeout=120)
    assert status.status == "failed" and "stopped (crashed or was replaced)" in status.error
    assert not (store / "adapters" / "g78-v1").exists()
    # The class carries on.
    result = await client.call(Generate("Hello", DecodingParams(max_new_tokens=2)))
    assert len(result.token_ids) == 2


async def test_a_long_fine_tune_trains_apart_and_outlives_the_replica_that_queued_it(
    serve_url, client, store
):
    sentences = [*RECIPES, "Stir the soup, then let it rest for ten minutes."]
    # 500 steps (nothing held out): more than APART_OVER
    long = FineTuneParams(epochs=20, batch_size=1, held_out=0)
    request = StartFineTune("g79-v1", sentences, long).to_dict()
    async with aiohttp.ClientSession() as session:
        async with session.post(serve_url + StartFineTune.path(), json=request) as reply:
            assert reply.status == 202, await reply.text()
            queued_by = reply.headers[REPLICA_HEADER]
    deadline = time.monotonic() + 90
    while (await client.call(FineTuneProgress("g79-v1"))).step == 0:
        assert time.monotonic() < deadline, "the fine-tune never started"
        await asyncio.sleep(0.1)
    owner = json.loads((store / "jobs" / "g79-v1.json").read_text())["owner"]
    assert owner.startswith("finetune-") and owner != queued_by
    os.kill(int(queued_by.rsplit("-", 2)[1]), signal.SIGKILL)  # the queuing replica dies
    done = await until_done(client, "g79-v1", timeout=180)
    assert done.status == "done", done.error
    assert done.step == done.total_steps == 500
    assert (store / "adapters" / "g79-v1" / "training.json").exists()
    result = await client.call(Generate("Mix", DecodingParams(max_new_tokens=3), adapter="g79-v1"))
    assert len(result.token_ids) == 3


async def test_serve_answers_bad_bodies_as_the_plain_runner_does(serve_url, client):
    async with aiohttp.ClientSession() as session:
        for body in ("[1, 2]", "not json", '"text"'):
            async with session.post(serve_url + Generate.path(), data=body) as reply:
                assert reply.status == 400, body
                assert (await reply.json())["message"] == "the request body must be a JSON object"


def test_serves_controller_waits_for_a_proxy_on_a_busy_machine(monkeypatch):
    """Serve's controller gets PATIENCE's time for its proxy (an instructor's setting wins);
    the job's own runtime environment is left alone."""
    import model_runner.serve as served

    inits, starts = [], []
    monkeypatch.setattr(served.ray, "init", lambda **options: inits.append(options))
    monkeypatch.setattr(served.serve, "start", lambda **options: starts.append(options))
    monkeypatch.setenv("RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S", "45")
    monkeypatch.delenv("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", raising=False)
    served.start_serve("127.0.0.1", 8765, "auto")
    ((init,), (start,)) = inits, starts
    assert init == {"address": "auto", "include_dashboard": False}
    assert start["http_options"] == {"host": "127.0.0.1", "port": 8765}
    env = start["controller_options"]["runtime_env"]["env_vars"]
    assert env["RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S"] == "60"  # 12x Serve's own 5 s
    assert env["RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S"] == "45"


def test_an_older_serve_gets_the_patience_through_the_environment(monkeypatch):
    import model_runner.serve as served

    starts = []
    monkeypatch.setattr(served, "TAKES_CONTROLLER_OPTIONS", False)
    monkeypatch.setattr(served.ray, "init", lambda **options: None)
    monkeypatch.setattr(served.serve, "start", lambda **options: starts.append(options))
    monkeypatch.setenv("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "")  # (restored after the test)
    monkeypatch.delenv("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S")
    monkeypatch.setenv("RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S", "45")
    served.start_serve("127.0.0.1", 8765)
    assert starts == [{"http_options": {"host": "127.0.0.1", "port": 8765}}]
    assert os.environ["RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S"] == "60"  # for a Ray started here
    assert os.environ["RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S"] == "45"
