"""The one interface the bot uses to reach the runner, in-process or over HTTP.

Both clients have one method that matters, `call(operation)`: it takes any request of
`model_runner.protocol` and returns that operation's result type. `connect(...)` returns an
`EmbeddedRunnerClient` when no runner URL is configured (the model runs in the bot's own
process, on worker threads) and an `HttpRunnerClient` otherwise (a `labbot runner` service or
the Ray Serve deployment, which speak the same HTTP API). This module never imports torch:
the embedded runner's modules are imported on a worker thread when it starts.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp

from model_runner.protocol import Info, Operation, RunnerInfo, RunnerUnavailable
from model_runner.protocol.errors import from_wire

R = TypeVar("R")


class RunnerClient(Protocol):
    """What the bot can ask of the runner."""

    location: str  # "in-process" or the runner's URL, for /about

    async def start(self) -> None:
        """Get ready to serve (start loading the model, or open the HTTP session)."""

    async def call(self, operation: Operation[R]) -> R:
        """Run one operation and return its result (or raise its typed RunnerError)."""

    async def close(self) -> None:
        """Release resources."""


class EmbeddedRunnerClient:
    """Runs the model runner inside this process."""

    location = "in-process"

    def __init__(self, **config: Any) -> None:
        self._config = config
        self._runner: Any = None

    async def start(self) -> None:
        if self._runner is None:
            # Importing torch takes seconds: do it off the event loop.
            module = await asyncio.to_thread(importlib.import_module, "model_runner.runner")
            self._runner = module.ModelRunner(module.RunnerConfig(**self._config))
        await self._runner.start()

    @property
    def runner(self) -> Any:
        """The `ModelRunner`, once started."""
        if self._runner is None:
            raise RunnerUnavailable("the runner has not been started")
        return self._runner

    async def call(self, operation: Operation[R]) -> R:
        if self._runner is None and isinstance(operation, Info):
            return RunnerInfo(model=self._config.get("model", ""), status="loading")  # type: ignore[return-value]
        return await self.runner.call(operation)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.close()


class HttpRunnerClient:
    """Talks to a runner service over its JSON API: `POST /v1/<operation>`."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 300) -> None:
        self.location = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)

    async def call(self, operation: Operation[R]) -> R:
        await self.start()
        assert self._session is not None
        url = self.location + operation.path()
        binary = operation.result is bytes
        course = operation.route_key()
        # Ray Serve routes a course's requests to the replica holding its adapters.
        headers = {"serve_multiplexed_model_id": course} if course else None
        try:
            async with self._session.post(url, json=operation.to_dict(), headers=headers) as reply:
                if reply.status < 400 and binary:
                    return await reply.read()  # type: ignore[return-value]
                data = await reply.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise RunnerUnavailable(
                f"the model runner at {self.location} did not answer ({type(error).__name__})"
            ) from error
        if reply.status >= 400:
            raise from_wire(reply.status, data)
        return operation.result.from_dict(data)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def connect(
    *,
    url: str = "",
    token: str | None = None,
    model: str,
    device: str = "auto",
    data_dir: Path = Path("data"),
    model_cache: Path | None = None,
    max_new_tokens: int = 100,
    device_power_w: float = 0.0,
    queue_size: int = 256,
    finetunes_together: int = 8,
    finetune_precision: str = "auto",
    threads: int = 0,
    precision: str = "auto",
) -> RunnerClient:
    """The client for the configured runner: embedded when `url` is empty."""
    if url:
        return HttpRunnerClient(url, token)
    return EmbeddedRunnerClient(
        model=model,
        device=device,
        data_dir=data_dir,
        model_cache=model_cache,
        max_new_tokens=max_new_tokens,
        device_power_w=device_power_w,
        queue_size=queue_size,
        finetunes_together=finetunes_together,
        finetune_precision=finetune_precision,
        threads=threads,
        precision=precision,
    )
