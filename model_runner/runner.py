"""The in-process model runner: one worker thread owns the model; callers only await.

Every torch call happens on the worker thread, so the event loop that serves Discord never
blocks on the model. The model loads in the background: the runner answers `info()` with
status "loading" straight away and "ready" once the weights are in memory.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from model_runner import __version__
from model_runner.api import RunnerInfo, RunnerUnavailable
from model_runner.loading import LoadedModel, load_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerConfig:
    """How the runner loads and serves its model."""

    model: str = "openai-community/gpt2"  # Hub id, local dir, .gguf file or preset
    device: str = "auto"  # auto, cpu, cuda, cuda:N, mps
    data_dir: Path = Path("data")  # model caches and adapters live below this
    max_new_tokens: int = 100  # ceiling for any one request
    device_power_w: float = 0.0  # for energy estimates; 0 = a typical figure per device
    queue_size: int = 64  # waiting requests beyond this are told to retry


class ModelRunner:
    """Loads the model on its worker thread and serves requests from it."""

    def __init__(self, config: RunnerConfig) -> None:
        self.config = config
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-runner")
        self._loaded: LoadedModel | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._error: str = ""

    async def start(self) -> None:
        """Begin loading the model in the background; returns at once."""
        if self._load_task is None:
            self._load_task = asyncio.create_task(self._load(), name="runner-load")

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._loaded = await loop.run_in_executor(
                self._worker,
                lambda: load_model(
                    self.config.model, device=self.config.device, data_dir=self.config.data_dir
                ),
            )
            log.info("model %s ready on %s", self.config.model, self._loaded.device)
        except Exception as error:  # noqa: BLE001 - reported through info() and every request
            self._error = str(error)
            log.error("model %s failed to load: %s", self.config.model, error)

    async def wait_ready(self) -> LoadedModel:
        """Wait for the model to finish loading, or raise why it could not."""
        await self.start()
        assert self._load_task is not None
        await asyncio.shield(self._load_task)
        if self._loaded is None:
            raise RunnerUnavailable(self._error or "the model is not loaded")
        return self._loaded

    async def info(self) -> RunnerInfo:
        """What is being served and whether it is ready."""
        loaded = self._loaded
        if loaded is None:
            status = "failed" if self._error else "loading"
            return RunnerInfo(
                model=self.config.model, status=status, version=__version__, error=self._error
            )
        return RunnerInfo(
            model=self.config.model,
            status="ready",
            device=str(loaded.device),
            dtype=str(loaded.dtype).removeprefix("torch."),
            parameters=loaded.parameters,
            version=__version__,
        )

    async def close(self) -> None:
        """Stop the worker after the current step."""
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._worker.shutdown(wait=False, cancel_futures=True)
