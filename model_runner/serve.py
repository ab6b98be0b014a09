"""`labbot serve`: the model runner on Ray Serve, for many classes on a cluster.

Each replica is one unchanged `ModelRunner` (its batching engine, its fine-tunes) behind the
same HTTP API as `labbot runner` (`POST /v1/<operation>`, docs/runner-api.md), so the bot
points at Ray Serve's proxy with the same `LABBOT_RUNNER_URL`. Replicas are stateless: a
request names its adapter by id, adapters load on demand from the adapter store under
`data_dir` (a shared path on a cluster), and fine-tune jobs keep their records there
(`model_runner.jobs`), so any replica answers for any job.

Routing: the HTTP client sends each request's course (`Operation.route_key`, the adapter id's
first part, one per Discord server) as Serve's multiplexed model id. Serve sends a course's
requests to the replica that already serves it, so one course's adapters gather on one replica;
a replica keeps `max_courses` courses and, past that, unloads the least recently used course's
adapters from its model.

Ray is optional: nothing else in the project imports this module.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import ray
import torch
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from model_runner.finetune.standalone import train_job
from model_runner.http import (
    INTERNAL_ERROR,
    UNAUTHORIZED,
    archive_headers,
    authorized,
    checked_body,
    error_headers,
    success_status,
)
from model_runner.protocol import (
    OPERATIONS,
    Generate,
    InvalidRequest,
    Operation,
    RunnerError,
)
from model_runner.runner import ModelRunner, RunnerConfig

log = logging.getLogger(__name__)

REPLICA_HEADER = "X-Labbot-Replica"  # which replica answered (its job-store owner name)
# Serve's controller kills a proxy that failed three ready checks of 5 s each, and
# `serve.start` then fails (it waits 60 s at most, fixed in Ray). On a machine whose cores are
# busy (a class's fine-tunes, a test suite) starting a proxy's Ray worker takes longer than
# that, so each check gets as long as `serve.start` waits (seconds; an instructor's own
# setting of these variables in `labbot serve`'s environment wins).
PATIENCE = {
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
    "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "30",
}
TAKES_CONTROLLER_OPTIONS = "controller_options" in inspect.signature(serve.start).parameters
BY_PATH = {kind.path(): kind for kind in OPERATIONS.values()}


@ray.remote(max_restarts=0)
class FineTuneTask:
    """One fine-tune too big to interleave, in a Ray worker of its own (`train_job`).

    Detached: a Ray actor dies with the process that created it unless it is detached, and
    the job must outlive the replica that queued it. It exits when the job ends.
    """

    def run(self, job_id: str, owner: str, config: dict[str, Any], threads: int) -> str:
        torch.set_num_threads(max(1, threads))
        try:
            status = train_job(
                job_id,
                owner,
                data_dir=Path(config.get("data_dir", "data")),
                cache_dir=config.get("model_cache"),
                model=str(config.get("model", RunnerConfig.model)),
                device=str(config.get("device", RunnerConfig.device)),
                stale_s=float(config.get("job_stale_s", RunnerConfig.job_stale_s)),
            )
        finally:
            ray.actor.exit_actor()
        return status.status  # pragma: no cover  # exit_actor raises


def hand_off(config: dict[str, Any], threads: int, gpus: float, job_id: str, owner: str) -> None:
    """Start `job_id`'s fine-tune as a detached Ray actor, with a replica's resources."""
    options = {
        "name": f"labbot-finetune-{owner}",
        "namespace": "labbot",
        "lifetime": "detached",
        "num_cpus": threads,
        "num_gpus": gpus,
    }
    task = FineTuneTask.options(**options).remote()  # type: ignore[attr-defined]
    task.run.remote(job_id, owner, config, threads)


class Course:
    """A course's adapters loaded on this replica; unloaded when Serve evicts the course."""

    def __init__(self, runner: ModelRunner, course: str) -> None:
        self.runner, self.course = runner, course
        self.adapters: set[str] = set()

    async def __del__(self) -> None:  # Serve awaits this when it evicts the course
        if self.adapters:
            unloaded = await self.runner.unload_adapters(sorted(self.adapters))
            log.info("course %s left this replica: unloaded %s", self.course, unloaded)


class Replica:
    """One replica: a ModelRunner behind the runner's HTTP API (made a deployment, with its
    course cache, by `application`)."""

    async def __init__(  # type: ignore[misc]  # Ray Serve awaits an async constructor
        self, config: dict[str, Any], token: str | None = None, threads: int = 1, gpus: float = 0
    ) -> None:
        # Ray sets OMP_NUM_THREADS to the actor's CPUs, rounded; say it to torch outright.
        torch.set_num_threads(max(1, threads))
        self.runner = ModelRunner(RunnerConfig(**config))
        self.runner.hand_off = partial(hand_off, config, threads, gpus)
        self.token = token
        await self.runner.start()

    async def course(self, course: str) -> Course:
        """A course arriving on this replica (Serve keeps the most recent few)."""
        raise NotImplementedError  # replaced in `application`

    async def check_health(self) -> None:
        """Serve replaces a replica whose model failed (its jobs are recorded as failed)."""
        info = await self.runner.info()
        if info.status == "failed":
            raise RuntimeError(info.error or "the model runner failed")

    async def __call__(self, request: Request) -> Response:
        path = request.url.path.rstrip("/")
        if not authorized(path, request.headers.get("authorization", ""), self.token):
            return JSONResponse(UNAUTHORIZED, 401)
        if path == "/healthz":
            info = await self.runner.info()
            ok = info.status != "failed"
            return JSONResponse({"ok": ok, "status": info.status}, 200 if ok else 503)
        try:
            answer = await self._serve(path, request)
        except RunnerError as error:
            answer = JSONResponse(error.to_dict(), error.status, headers=error_headers(error))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error serving %s", path)
            answer = JSONResponse(INTERNAL_ERROR, 500)
        answer.headers[REPLICA_HEADER] = self.runner.jobs.owner
        return answer

    async def _serve(self, path: str, request: Request) -> Response:
        kind = BY_PATH.get(path)
        if kind is None:
            return JSONResponse({"error": "NotFound", "message": f"no operation {path}"}, 404)
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            raise InvalidRequest("the request body must be a JSON object") from None
        operation: Operation[Any] = kind.from_dict(checked_body(body))
        course = serve.get_multiplexed_model_id()
        if course:
            held = await self.course(course)
            if isinstance(operation, Generate) and operation.adapter:
                held.adapters.add(operation.adapter)
        result = await self.runner.call(operation)
        if isinstance(result, bytes):
            return Response(
                result, media_type="application/zip", headers=archive_headers(operation)
            )
        return JSONResponse(result.to_dict(), success_status(operation))


def application(
    config: dict[str, Any],
    *,
    token: str | None = None,
    replicas: int = 1,
    max_replicas: int | None = None,
    max_ongoing_requests: int = 64,
    max_courses: int = 8,
    cpus_per_replica: float = 1,
    gpus_per_replica: float = 0,
) -> Any:
    """The Serve application: fixed `replicas`, or autoscaling up to `max_replicas`.

    `max_ongoing_requests` is high on purpose: the engine batches the requests a replica holds
    into shared forward passes, so a replica should hold many at once, not one. On a CPU a
    replica computes with `cpus_per_replica` threads (Ray's default, 1, halves a 2-core
    machine's throughput).
    """

    class LabRunner(Replica):
        @serve.multiplexed(max_num_models_per_replica=max_courses)
        async def course(self, course: str) -> Course:
            return Course(self.runner, course)

    options: dict[str, Any] = {
        "name": "LabRunner",
        "max_ongoing_requests": max_ongoing_requests,
        "ray_actor_options": {"num_cpus": cpus_per_replica, "num_gpus": gpus_per_replica},
    }
    if max_replicas and max_replicas > replicas:
        options["autoscaling_config"] = {
            "min_replicas": replicas,
            "max_replicas": max_replicas,
            "target_ongoing_requests": max(1, max_ongoing_requests // 2),
        }
    else:
        options["num_replicas"] = replicas
    deployment: Any = serve.deployment(LabRunner, **options)
    return deployment.bind(config, token, max(1, round(cpus_per_replica)), gpus_per_replica)


def start_serve(host: str, port: int, address: str = "", **ray_options: Any) -> None:
    """Ray (a running cluster at `address`, or one started here), then Serve's controller and
    proxy on it, their health checks patient with a busy machine (`PATIENCE`, given to the
    controller alone). An older Ray, whose `serve.start` takes no controller options,
    gets them through this process's environment, which only a Ray started here inherits."""
    env = {name: os.environ.get(name, default) for name, default in PATIENCE.items()}
    extra: dict[str, Any] = {}
    if TAKES_CONTROLLER_OPTIONS:
        extra["controller_options"] = {"runtime_env": {"env_vars": env}}
    else:
        os.environ.update(env)  # (the instructor's own values are kept: `env` read them)
    ray.init(address=address or None, include_dashboard=False, **ray_options)
    serve.start(http_options={"host": host, "port": port}, **extra)


def run(
    config: dict[str, Any],
    *,
    host: str,
    port: int,
    token: str | None,
    ray_address: str = "",
    **scaling: Any,
) -> None:
    """Start the application on Ray (a running cluster at `ray_address`, `auto` for the local
    one from `ray start --head`, or empty for a Ray started here) and serve until interrupted."""
    from model_runner.http import is_loopback

    if not token and not is_loopback(host):
        raise PermissionError(
            f"LABBOT_RUNNER_TOKEN: must be set when the runner listens on {host} (not loopback)"
        )
    start_serve(host, port, ray_address)
    serve.run(application(config, token=token, **scaling), name="labbot", route_prefix="/")
    log.info("labbot on Ray Serve at http://%s:%d", host, port)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()
