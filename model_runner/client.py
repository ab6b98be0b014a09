"""The one interface the bot uses to reach the runner, in-process or over HTTP.

`connect(...)` returns an `EmbeddedRunnerClient` when no runner URL is configured (the model
runs in the bot's own process, on a worker thread) and an `HttpRunnerClient` otherwise. Both
take and return the typed objects of `model_runner.api`. This module never imports torch:
the embedded runner's modules are imported on a worker thread when it starts.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from model_runner.api import (
    AdapterInfo,
    AttentionResult,
    CompareResult,
    EmbeddingResult,
    FineTuneStatus,
    GenerateResult,
    InvalidRequest,
    LossResult,
    NextTokenResult,
    RunnerBusy,
    RunnerError,
    RunnerInfo,
    RunnerUnavailable,
    TokenizeResult,
    TrainStepResult,
)
from model_runner.decoding.params import DecodingParams
from model_runner.finetune.params import FineTuneParams
from model_runner.lab_params import LEARNING_RATE_DEFAULT, STEPS_DEFAULT, TOP_DEFAULT


class RunnerClient(Protocol):
    """What the bot can ask of the runner."""

    location: str  # "in-process" or the runner's URL, for /about

    async def start(self) -> None:
        """Get ready to serve (start loading the model, or open the HTTP session)."""

    async def info(self) -> RunnerInfo:
        """The model being served and its status."""

    async def generate(
        self, prompt: str, params: DecodingParams, adapter: str | None = None
    ) -> GenerateResult:
        """Continue `prompt` with one decoding method (with a LoRA adapter, if named)."""

    async def compare(
        self, prompt: str, max_new_tokens: int = 50, seed: int | None = None
    ) -> CompareResult:
        """Greedy, 5-Beam, Contrastive Search and Random Sampling on one prompt."""

    async def next_token(
        self, prompt: str, temperature: float = 1.0, top: int = 10
    ) -> NextTokenResult:
        """The `top` most likely next tokens after `prompt`."""

    async def tokenize(self, text: str) -> TokenizeResult:
        """How the model's tokenizer splits `text`."""

    async def loss(self, text: str) -> LossResult:
        """Each token's probability and loss, the mean loss and perplexity."""

    async def start_finetune(
        self, adapter: str, sentences: list[str], params: FineTuneParams
    ) -> FineTuneStatus:
        """Queue a LoRA fine-tune that saves adapter `adapter`."""

    async def finetune_status(self, job_id: str) -> FineTuneStatus:
        """A fine-tune's progress."""

    async def cancel_finetune(self, job_id: str) -> FineTuneStatus:
        """Stop a fine-tune."""

    async def list_adapters(self) -> list[AdapterInfo]:
        """The trained adapters."""

    async def attention(
        self, text: str, layer: int | None = None, head: int | None = None
    ) -> AttentionResult:
        """Attention weights of one layer (1-based, default the last) over `text`'s tokens,
        of one head (1-based) or averaged over heads (None)."""

    async def embedding(self, words: list[str], top: int = TOP_DEFAULT) -> EmbeddingResult:
        """Each word's nearest tokens by cosine similarity, and a 2-D PCA picture."""

    async def train_step(
        self, text: str, steps: int = STEPS_DEFAULT, learning_rate: float = LEARNING_RATE_DEFAULT
    ) -> TrainStepResult:
        """A few gradient steps on `text` on a throwaway LoRA adapter."""

    async def adapter_archive(self, adapter_id: str) -> bytes:
        """A saved adapter as zip bytes, ready to load in a notebook."""

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

    async def info(self) -> RunnerInfo:
        if self._runner is None:
            return RunnerInfo(model=self._config.get("model", ""), status="loading")
        return await self._runner.info()

    async def generate(
        self, prompt: str, params: DecodingParams, adapter: str | None = None
    ) -> GenerateResult:
        return await self.runner.generate(prompt, params, adapter)

    async def compare(self, prompt: str, max_new_tokens: int = 50, seed: int | None = None):
        return await self.runner.compare(prompt, max_new_tokens, seed)

    async def next_token(self, prompt: str, temperature: float = 1.0, top: int = 10):
        return await self.runner.next_token(prompt, temperature, top)

    async def tokenize(self, text: str) -> TokenizeResult:
        return await self.runner.tokenize(text)

    async def loss(self, text: str) -> LossResult:
        return await self.runner.loss(text)

    async def start_finetune(self, adapter, sentences, params) -> FineTuneStatus:
        return await self.runner.start_finetune(adapter, sentences, params)

    async def finetune_status(self, job_id: str) -> FineTuneStatus:
        return self.runner.finetune_status(job_id)

    async def cancel_finetune(self, job_id: str) -> FineTuneStatus:
        return await self.runner.cancel_finetune(job_id)

    async def list_adapters(self) -> list[AdapterInfo]:
        return self.runner.list_adapters()

    async def attention(
        self, text: str, layer: int | None = None, head: int | None = None
    ) -> AttentionResult:
        return await self.runner.attention(text, layer, head)

    async def embedding(self, words: list[str], top: int = TOP_DEFAULT) -> EmbeddingResult:
        return await self.runner.embedding(words, top)

    async def train_step(
        self, text: str, steps: int = STEPS_DEFAULT, learning_rate: float = LEARNING_RATE_DEFAULT
    ) -> TrainStepResult:
        return await self.runner.train_step(text, steps, learning_rate)

    async def adapter_archive(self, adapter_id: str) -> bytes:
        return await self.runner.adapter_archive(adapter_id)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.close()


class HttpRunnerClient:
    """Talks to a `labbot runner` service over its JSON API."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 300) -> None:
        self.location = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        await self.start()
        assert self._session is not None
        try:
            async with self._session.request(method, self.location + path, json=body) as reply:
                data = await reply.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise RunnerUnavailable(
                f"the model runner at {self.location} did not answer ({type(error).__name__})"
            ) from error
        if reply.status >= 400:
            raise _error_from(reply.status, data)
        return data

    async def info(self) -> RunnerInfo:
        return RunnerInfo.from_dict(await self._call("GET", "/v1/info"))

    async def generate(
        self, prompt: str, params: DecodingParams, adapter: str | None = None
    ) -> GenerateResult:
        body = {"prompt": prompt, **params.to_dict(), "adapter": adapter}
        return GenerateResult.from_dict(await self._call("POST", "/v1/generate", body))

    async def compare(self, prompt: str, max_new_tokens: int = 50, seed: int | None = None):
        body = {"prompt": prompt, "max_new_tokens": max_new_tokens, "seed": seed}
        return CompareResult.from_dict(await self._call("POST", "/v1/compare", body))

    async def next_token(self, prompt: str, temperature: float = 1.0, top: int = 10):
        body = {"prompt": prompt, "temperature": temperature, "top": top}
        return NextTokenResult.from_dict(await self._call("POST", "/v1/next-token", body))

    async def tokenize(self, text: str) -> TokenizeResult:
        return TokenizeResult.from_dict(await self._call("POST", "/v1/tokenize", {"text": text}))

    async def loss(self, text: str) -> LossResult:
        return LossResult.from_dict(await self._call("POST", "/v1/loss", {"text": text}))

    async def start_finetune(self, adapter, sentences, params) -> FineTuneStatus:
        body = {"adapter": adapter, "sentences": sentences, **params.to_dict()}
        return FineTuneStatus.from_dict(await self._call("POST", "/v1/finetune", body))

    async def finetune_status(self, job_id: str) -> FineTuneStatus:
        return FineTuneStatus.from_dict(await self._call("GET", f"/v1/finetune/{job_id}"))

    async def cancel_finetune(self, job_id: str) -> FineTuneStatus:
        return FineTuneStatus.from_dict(await self._call("DELETE", f"/v1/finetune/{job_id}"))

    async def list_adapters(self) -> list[AdapterInfo]:
        data = await self._call("GET", "/v1/adapters")
        return [AdapterInfo.from_dict(a) for a in data["adapters"]]

    async def attention(
        self, text: str, layer: int | None = None, head: int | None = None
    ) -> AttentionResult:
        body = {"text": text, "layer": layer, "head": head}
        return AttentionResult.from_dict(await self._call("POST", "/v1/attention", body))

    async def embedding(self, words: list[str], top: int = TOP_DEFAULT) -> EmbeddingResult:
        body = {"words": words, "top": top}
        return EmbeddingResult.from_dict(await self._call("POST", "/v1/embedding", body))

    async def train_step(
        self, text: str, steps: int = STEPS_DEFAULT, learning_rate: float = LEARNING_RATE_DEFAULT
    ) -> TrainStepResult:
        body = {"text": text, "steps": steps, "learning_rate": learning_rate}
        return TrainStepResult.from_dict(await self._call("POST", "/v1/train-step", body))

    async def adapter_archive(self, adapter_id: str) -> bytes:
        path = f"/v1/adapters/{quote(adapter_id, safe='')}/archive"
        await self.start()
        assert self._session is not None
        try:
            async with self._session.get(self.location + path) as reply:
                if reply.status < 400:
                    return await reply.read()
                data = await reply.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise RunnerUnavailable(
                f"the model runner at {self.location} did not answer ({type(error).__name__})"
            ) from error
        raise _error_from(reply.status, data)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _error_from(status: int, data: Any) -> RunnerError:
    """Rebuild the runner's typed error from its JSON body."""
    body = data if isinstance(data, dict) else {}
    message = str(body.get("message") or f"runner answered HTTP {status}")
    kind = body.get("error")
    if kind == "RunnerBusy":
        return RunnerBusy(message, retry_after=float(body.get("retry_after") or 5))
    if kind == "InvalidRequest" or status == 400:
        return InvalidRequest(message, field=body.get("field"))
    if status in (401, 403):
        return RunnerUnavailable(f"the runner refused the bot's token: {message}")
    return RunnerUnavailable(message)


def connect(
    *,
    url: str = "",
    token: str | None = None,
    model: str,
    device: str = "auto",
    data_dir: Path = Path("data"),
    max_new_tokens: int = 100,
    device_power_w: float = 0.0,
    queue_size: int = 256,
) -> RunnerClient:
    """The client for the configured runner: embedded when `url` is empty."""
    if url:
        return HttpRunnerClient(url, token)
    return EmbeddedRunnerClient(
        model=model,
        device=device,
        data_dir=data_dir,
        max_new_tokens=max_new_tokens,
        device_power_w=device_power_w,
        queue_size=queue_size,
    )
