"""The in-process model runner: one worker thread owns the model; callers only await.

Every torch call happens on the worker thread, so the event loop that serves Discord never
blocks on the model. The model loads in the background: the runner answers `info()` with
status "loading" straight away and "ready" once the weights are in memory. Then the worker
runs the batching engine: decode requests that arrive together share forward passes, and
the one-off operations (tokenize, next token, loss, attention, embeddings, a train step) run
between its steps.

The engine thread is supervised: if it ever dies, the runner logs why, reports `failed`,
fails whatever was waiting at once, and starts it again (waiting longer after each crash
in a row). Every request is checked at this edge, in tokens, against the model's
positions; one-off operations have a queue bound and a time limit like decoding, and
loading the model has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypedDict, TypeVar

from model_runner import __version__, anatomy, introspect, jobs, trainstep
from model_runner.adapters import AdapterRegistry
from model_runner.archive import adapter_zip
from model_runner.beam_tree import BeamRecorder, trace_result
from model_runner.decoding.beam import BeamStepper, StepWatch
from model_runner.decoding.run import stepper_for
from model_runner.decoding.stepping import Stepper
from model_runner.energy import typical_power_w, watt_hours
from model_runner.engine.engine import (
    BackgroundWork,
    DecodeEngine,
    DecodeJob,
    JobOutcome,
)
from model_runner.finetune.cohort import Cohort, Member
from model_runner.finetune.precision import training_dtype
from model_runner.finetune.preference import (
    AlignmentProgress,
    alignment_record,
    preference_steps,
)
from model_runner.finetune.trainer import (
    TrainingProgress,
    progress_status,
    save_adapter,
    steps_of,
    training_record,
)
from model_runner.jobs import JobStore
from model_runner.loading import LoadedModel, load_model
from model_runner.positions import check_fits
from model_runner.protocol import (
    AdapterArchive,
    AdapterList,
    Attention,
    AttentionResult,
    BeamTrace,
    BeamTraceResult,
    CancelFineTune,
    Compare,
    CompareResult,
    DecodingMethod,
    DecodingParams,
    Embedding,
    EmbeddingResult,
    FineTuneProgress,
    FineTuneStatus,
    Generate,
    GenerateResult,
    Info,
    InvalidRequest,
    JobNotFound,
    ListAdapters,
    Loss,
    LossResult,
    NextToken,
    NextTokenResult,
    Operation,
    RequestTimeout,
    RunAlreadyActive,
    RunnerBusy,
    RunnerError,
    RunnerInfo,
    RunnerUnavailable,
    SamplerStages,
    SamplerStagesResult,
    StartAlignment,
    StartFineTune,
    StepCandidates,
    StepResult,
    Tokenize,
    TokenizeResult,
    TrainStep,
    TrainStepResult,
)
from model_runner.protocol.limits import SEED_RANGE, STEP_TOKENS_MAX
from model_runner.protocol.together import all_or_none
from model_runner.stepthrough import StepProbe

T = TypeVar("T")
TRAIN_STEPS_WAITING = 16  # /trainstep runs in the engine at once; more are told to retry
R = TypeVar("R")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerConfig:
    """How the runner loads and serves its model."""

    model: str = "openai-community/gpt2"  # Hub id, local dir, .gguf file or preset
    device: str = "auto"  # auto, cpu, cuda, cuda:N, mps
    data_dir: Path = Path("data")  # adapters and fine-tune jobs live below this
    model_cache: Path | None = None  # converted weights (None: `loading.default_cache_dir()`)
    max_new_tokens: int = 100  # ceiling for any one request
    device_power_w: float = 0.0  # for energy estimates; 0 = a typical figure per device
    queue_size: int = 256  # waiting requests beyond this are told to retry
    max_rows: int = 128  # rows decoded together at most (a beam request takes num_beams)
    request_timeout_s: float = 300.0  # a request still running after this fails
    load_timeout_s: float = 1800.0  # loading (download, conversion) taking longer fails
    job_stale_s: float = 30.0  # a job whose runner was silent this long is recorded as failed
    interleave_max_steps: int = 0  # longer fine-tunes go to `hand_off` when set (0: none do)
    finetunes_together: int = 8  # fine-tunes trained in one cohort; more wait for a place
    finetune_precision: str = "auto"  # auto (bfloat16 where native), fp32 or bf16
    finetune_slice_tokens: int = 0  # padded tokens per training slice; 0: 512 (CPU), 8192 (GPU)
    threads: int = 0  # intra-op threads on a CPU; 0: measured (engine/threads.py)
    precision: str = "auto"  # the served model's numbers: auto (fp32 on a CPU), fp32, bf16


class _UsageFields(TypedDict):
    """`api.Usage`'s fields, as keyword arguments of every result."""

    queue_ms: float
    compute_ms: float
    energy_wh: float
    model: str


@dataclass
class _FineTune:
    """A fine-tune job as the runner tracks it."""

    job_id: str
    adapter: str
    progress: TrainingProgress
    future: Future | None = None
    status: str = "queued"
    error: str = ""
    member: Member | None = None  # its place in the cohort, while it trains there


class ModelRunner:
    """Loads the model on its worker thread and serves requests from it."""

    def __init__(self, config: RunnerConfig) -> None:
        self.config = config
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-runner")
        self._loaded: LoadedModel | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._error: str = ""
        self._engine: DecodeEngine | None = None
        self.adapters = AdapterRegistry(config.data_dir / "adapters")
        self._finetunes: dict[str, _FineTune] = {}  # the jobs this runner owns
        self.jobs = JobStore(config.data_dir / "jobs", stale_s=config.job_stale_s)
        self._beating: asyncio.Task[None] | None = None
        self._engine_thread: threading.Thread | None = None
        self._supervisor: threading.Thread | None = None
        self._closing = threading.Event()
        self.restarts = 0  # times the engine thread died and was started again
        self.crash = ""  # why it last died
        self.power_w = 0.0
        # Starts a queued fine-tune (job id, owner name) in a process of its own; set by a
        # deployment that has one (Ray Serve), used for runs over `interleave_max_steps`.
        self.hand_off: Callable[[str, str], None] | None = None
        self._handed: dict[str, str] = {}  # handed jobs not started yet: job id -> owner
        self._cohort: Cohort | None = None  # the fine-tunes training together now
        self._cohort_lock = threading.Lock()
        self._train_steps = 0  # /trainstep runs queued or running

    async def start(self) -> None:
        """Begin loading the model in the background; returns at once."""
        if self._load_task is None:
            self._load_task = asyncio.create_task(self._load(), name="runner-load")
        if self._beating is None:
            self._beating = asyncio.create_task(self._beat(), name="runner-jobs-beat")

    async def _beat(self) -> None:
        """Tell the other replicas this runner is alive; stop jobs they asked to cancel."""
        while True:
            try:
                await asyncio.to_thread(self._beat_once)
            except OSError as error:
                log.error("cannot write to the job store %s: %s", self.jobs.root, error)
            await asyncio.sleep(self.jobs.beat_s)

    def _beat_once(self) -> None:
        self.jobs.beat()
        for job in list(self._finetunes.values()):
            requested = job.status in jobs.ACTIVE and self.jobs.cancel_requested(job.job_id)
            if requested and job.future is not None:
                job.future.cancel()
        for job_id, owner in list(self._handed.items()):
            record = self.jobs.record(job_id) or {}
            if record.get("owner") != owner or record.get("status") != "queued":
                del self._handed[job_id]  # started (it beats itself) or ended
            elif self.jobs.cancel_requested(job_id):
                del self._handed[job_id]
                status = FineTuneStatus.from_dict({**record, "status": "cancelled"})
                JobStore(self.jobs.root, owner, self.jobs.stale_s).write(status)
            else:
                self.jobs.beat(owner)  # still waiting for its process: not lost

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            loading = loop.run_in_executor(
                self._worker,
                lambda: load_model(
                    self.config.model,
                    device=self.config.device,
                    data_dir=self.config.data_dir,
                    cache_dir=self.config.model_cache,
                    precision=self.config.precision,
                ),
            )
            try:
                self._loaded = await asyncio.wait_for(loading, self.config.load_timeout_s)
            except TimeoutError:
                raise RunnerUnavailable(
                    f"loading {self.config.model} took longer than {self.config.load_timeout_s:g} s"
                ) from None
            self.power_w = self.config.device_power_w or typical_power_w(self._loaded.device)
            self._engine = DecodeEngine(
                self._loaded.model,
                self._loaded.device,
                queue_size=self.config.queue_size,
                max_rows=self.config.max_rows,
                adapters=self.adapters,
                threads=self.config.threads,
            )
            self._worker.shutdown(wait=True)  # the engine thread owns the model from now on
            self._supervisor = threading.Thread(
                target=self._supervise, name="model-runner-supervisor", daemon=True
            )
            self._supervisor.start()
            log.info("model %s ready on %s", self.config.model, self._loaded.device)
        except Exception as error:  # noqa: BLE001 - reported through info() and every request
            self._error = str(error)
            log.error("model %s failed to load: %s", self.config.model, error)

    def _supervise(self) -> None:
        """Run the engine on its own thread; start it again whenever it dies."""
        assert self._engine is not None
        engine = self._engine
        crashes_in_a_row = 0
        while not self._closing.is_set():
            self._engine_thread = threading.Thread(
                target=self._run_engine, name="model-runner-engine", daemon=True
            )
            started = time.monotonic()
            self._engine_thread.start()
            self._engine_thread.join()
            if self._closing.is_set():
                return
            crashes_in_a_row = 1 if time.monotonic() - started > 60 else crashes_in_a_row + 1
            engine.down = "the model stopped unexpectedly and is restarting: try again shortly"
            log.error("the engine thread died (%s); restarting it", self.crash)
            engine.abandon(RunnerUnavailable(engine.down))
            if self._closing.wait(min(30.0, 0.25 * 2**crashes_in_a_row)):
                return
            self.restarts += 1
            engine.down = ""

    def _run_engine(self) -> None:
        assert self._engine is not None
        try:
            self._engine.run()
        except BaseException as error:  # noqa: BLE001 - reported, then the thread restarts
            self.crash = f"{type(error).__name__}: {error}"[:300]
            log.critical("the engine thread died", exc_info=error)

    async def wait_ready(self) -> LoadedModel:
        """Wait for the model to finish loading, or raise why it could not."""
        await self.start()
        assert self._load_task is not None
        await asyncio.shield(self._load_task)
        if self._loaded is None:
            raise RunnerUnavailable(self._error or "the model is not loaded")
        return self._loaded

    async def info(self, _: Info | None = None) -> RunnerInfo:
        """What is being served and whether it is ready."""
        loaded = self._loaded
        if loaded is None:
            status = "failed" if self._error else "loading"
            return RunnerInfo(
                model=self.config.model, status=status, version=__version__, error=self._error
            )
        waiting, active = self._engine.load() if self._engine is not None else (0, 0)
        down = self._engine.down if self._engine is not None else ""
        return RunnerInfo(
            model=self.config.model,
            status="failed" if down else "ready",
            error=down or (f"restarted after: {self.crash}" if self.crash else ""),
            restarts=self.restarts,
            waiting=waiting,
            active=active,
            device=str(loaded.device),
            dtype=str(loaded.dtype).removeprefix("torch."),
            parameters=loaded.parameters,
            version=__version__,
        )

    async def close(self) -> None:
        """Stop the worker after the current step, and wait (up to 10 s) for it to end."""
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._closing.set()
        if self._beating is not None:
            self._beating.cancel()
        for job in list(self._finetunes.values()):
            if job.future is not None:
                job.future.cancel()  # recorded as stopped: another runner must not wait on it
        with contextlib.suppress(OSError):
            self.jobs.retire()
        if self._engine is not None:
            self._engine.stop()
        self._worker.shutdown(wait=False, cancel_futures=True)
        thread = self._engine_thread
        if thread is not None and thread.is_alive():
            # Let the current step or training slice end: a thread still inside torch when
            # the interpreter exits aborts the whole process.
            await asyncio.to_thread(thread.join, 10)

    # --- operations -----------------------------------------------------------------------

    async def _on_worker(self, fn: Callable[[LoadedModel], T]) -> tuple[T, float, float]:
        """Run `fn(model)` between engine steps; returns (result, queue s, compute s)."""
        loaded = await self.wait_ready()
        assert self._engine is not None
        queued = time.perf_counter()
        timing: dict[str, float] = {}

        def timed() -> T:
            timing["start"] = time.perf_counter()
            result = fn(loaded)
            timing["end"] = time.perf_counter()
            return result

        future = self._engine.call(timed)
        limit = self.config.request_timeout_s
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), limit)
        except TimeoutError:
            future.cancel()  # skipped if it has not started yet
            raise RequestTimeout(f"the request took longer than {limit:g} s") from None
        return result, timing["start"] - queued, timing["end"] - timing["start"]

    async def call(self, operation: Operation[R]) -> R:
        """Serve any operation of the protocol: the method of the same name."""
        method = getattr(self, operation.name)
        return await method(operation)

    def _usage(self, queue_s: float, compute_s: float) -> _UsageFields:
        return {
            "queue_ms": round(queue_s * 1000, 1),
            "compute_ms": round(compute_s * 1000, 1),
            "energy_wh": watt_hours(compute_s, self.power_w),
            "model": self.config.model,
        }

    async def tokenize(self, op: Tokenize) -> TokenizeResult:
        """How the tokenizer splits the text."""
        result, q, c = await self._on_worker(lambda m: introspect.tokenize(m, op.text))
        return replace(result, **self._usage(q, c))

    async def _check_length(self, text: str, field: str, *, with_bos: bool = False) -> None:
        """`text` fits in the model's positions (with a beginning-of-text token if added)."""
        loaded = await self.wait_ready()
        assert self._engine is not None
        count = len(loaded.tokenizer(text)["input_ids"]) + (1 if with_bos else 0)
        check_fits(count, 0, self._engine.max_positions, field)

    def _check_ceiling(self, max_new_tokens: int) -> None:
        """This runner's ceiling on new tokens (configured by the instructor)."""
        ceiling = self.config.max_new_tokens
        if max_new_tokens > ceiling:
            raise InvalidRequest(
                f"max_new_tokens must be between 1 and {ceiling} on this runner "
                f"(got {max_new_tokens})",
                field="max_new_tokens",
            )

    async def next_token(self, op: NextToken) -> NextTokenResult:
        """The most likely next tokens after the prompt."""
        await self._check_length(op.prompt, "prompt")
        result, q, c = await self._on_worker(
            self._on_base(lambda m: introspect.next_token(m, op.prompt, op.temperature, op.top))
        )
        return replace(result, **self._usage(q, c))

    async def sampler_stages(self, op: SamplerStages) -> SamplerStagesResult:
        """What temperature, top-k and top-p each do to the next-token distribution."""
        await self._check_length(op.prompt, "prompt")
        result, q, c = await self._on_worker(
            self._on_base(
                lambda m: introspect.sampler_stages(
                    m, op.prompt, op.temperature, op.top_k, op.top_p, op.top, op.seed
                )
            )
        )
        return replace(result, **self._usage(q, c))

    async def loss(self, op: Loss) -> LossResult:
        """Per-token loss of the text."""
        await self._check_length(op.text, "text", with_bos=True)
        result, q, c = await self._on_worker(self._on_base(lambda m: introspect.loss(m, op.text)))
        return replace(result, **self._usage(q, c))

    def _on_base(self, fn: Callable[[LoadedModel], T]) -> Callable[[LoadedModel], T]:
        """`fn` on the pre-trained weights: once a group's adapter is loaded, peft's LoRA
        layers sit inside the shared model and would otherwise apply to it."""

        def run(loaded: LoadedModel) -> T:
            assert self._engine is not None
            with anatomy.base_weights(self._engine.model):
                return fn(loaded)

        return run

    async def generate(self, op: Generate) -> GenerateResult:
        """Continue the prompt with one decoding method, batched with everyone else's requests.

        `op.adapter` names a LoRA adapter of the base model (a group's fine-tune); its rows
        share forward passes with base-model rows and other adapters' rows.
        """
        params, adapter = op.params, op.adapter
        outcome, loaded = await self._decode_text(op.prompt, params, adapter)
        tokenizer, tokens = loaded.tokenizer, outcome.tokens
        return GenerateResult(
            prompt=op.prompt,
            method=params.method.value,
            adapter=adapter,
            text=introspect.decode_text(tokenizer, tokens, skip_special_tokens=True),
            token_ids=tokens,
            finish_reason="eos" if tokens and tokens[-1] == tokenizer.eos_token_id else "length",
            params=params.to_dict(),
            **self._usage(outcome.queue_s, outcome.compute_s),
        )

    async def beam_trace(self, op: BeamTrace) -> BeamTraceResult:
        """Beam search step by step: the same search as `generate` with the same parameters
        (decoded by the engine like any request), with a watch that records every step."""
        recorder = BeamRecorder(op.params.num_beams)
        outcome, loaded = await self._decode_text(op.prompt, op.params, op.adapter, recorder)
        result = trace_result(
            recorder,
            loaded.tokenizer,
            prompt=op.prompt,
            params=op.params.to_dict(),
            adapter=op.adapter,
        )
        if result.winner.token_ids != outcome.tokens:  # the trace follows the search it watched
            raise RuntimeError("the beam trace lost track of the search's winner")
        return replace(result, **self._usage(outcome.queue_s, outcome.compute_s))

    async def _decode_text(
        self,
        prompt: str,
        params: DecodingParams,
        adapter: str | None,
        watch: StepWatch | None = None,
    ) -> tuple[JobOutcome, LoadedModel]:
        """Decode one request on the engine (checked against the ceiling, the adapters and the
        model's positions first); a beam search's `watch` is told what each step did."""
        self._check_ceiling(params.max_new_tokens)
        loaded, prompt_ids = await self._prompt_ids(prompt, adapter)
        assert self._engine is not None
        tokenizer = loaded.tokenizer
        check_fits(len(prompt_ids), params.max_new_tokens, self._engine.max_positions)
        stepper = stepper_for(params, tokenizer.eos_token_id, tokenizer.pad_token_id, loaded.device)
        if watch is not None:
            assert isinstance(stepper, BeamStepper)
            stepper.watch = watch
        return await self._decode(prompt_ids, stepper, adapter), loaded

    async def _prompt_ids(self, prompt: str, adapter: str | None) -> tuple[LoadedModel, list[int]]:
        """The loaded model and the prompt's token ids, encoded as for generation; an unknown
        adapter fails first, naming it."""
        if adapter is not None:
            self.adapters.path(adapter)
        loaded = await self.wait_ready()
        prompt_ids = loaded.tokenizer(prompt)["input_ids"]
        if not prompt_ids:
            raise InvalidRequest("prompt must contain at least one token", field="prompt")
        return loaded, prompt_ids

    async def _decode(self, ids: list[int], stepper: Stepper, adapter: str | None) -> JobOutcome:
        """Decode `ids` with `stepper` in the engine's batch, with everyone else's rows."""
        assert self._engine is not None
        job = DecodeJob(ids, stepper, timeout_s=self.config.request_timeout_s, adapter=adapter)
        future: Future = self._engine.submit(job)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            job.cancel()
            raise

    async def step_candidates(self, op: StepCandidates) -> StepResult:
        """One step of a continuation built token by token: the likeliest next tokens after
        the prompt and the tokens chosen so far, and (with `op.params`) the token that method
        picks and why. The step is decoded in the engine's batch like /generate's tokens, by
        the method's own stepper, so the pick is the token /generate would write next."""
        chosen = op.chosen
        self._check_ceiling(len(chosen) + 1)
        loaded, prompt_ids = await self._prompt_ids(op.prompt, op.adapter)
        assert self._engine is not None
        tokenizer = loaded.tokenizer
        # The prompt leaves room for a whole step-through, so no step fails for want of it.
        check_fits(len(prompt_ids), STEP_TOKENS_MAX, self._engine.max_positions)
        vocabulary = len(tokenizer)
        if any(token >= vocabulary for token in chosen):
            raise InvalidRequest(
                f"chosen must hold token ids below {vocabulary:,}, this model's vocabulary",
                field="chosen",
            )
        params = op.params
        if params is not None and params.method is DecodingMethod.SAMPLING and params.seed is None:
            params = replace(params, seed=random.randrange(SEED_RANGE[1] + 1))  # said in the pick
        probe = StepProbe(tokenizer, op.top, params, chosen=len(chosen), device=loaded.device)
        outcome = await self._decode(prompt_ids + chosen, probe, op.adapter)
        return StepResult(
            prompt=op.prompt,
            chosen=list(chosen),
            text=introspect.decode_text(tokenizer, chosen, skip_special_tokens=True),
            candidates=probe.candidates,
            end_of_text=tokenizer.eos_token_id,
            pick=probe.pick,
            adapter=op.adapter,
            **self._usage(outcome.queue_s, outcome.compute_s),
        )

    async def compare(self, op: Compare) -> CompareResult:
        """The lab's table row: Greedy, 5-Beam, Contrastive Search, Random Sampling."""
        self._check_ceiling(op.max_new_tokens)
        # One column refused (busy, too long) cancels the others: no orphaned decoding.
        results = await all_or_none(
            *(self.generate(Generate(op.prompt, params)) for params in op.columns())
        )
        return CompareResult(
            prompt=op.prompt,
            results=list(results),
            queue_ms=max(r.queue_ms for r in results),
            compute_ms=round(sum(r.compute_ms for r in results), 1),
            energy_wh=sum(r.energy_wh for r in results),
            model=self.config.model,
        )

    # --- fine-tuning ----------------------------------------------------------------------

    async def start_finetune(self, op: StartFineTune) -> FineTuneStatus:
        """Queue a LoRA fine-tune that saves adapter `op.adapter`; it trains between decode
        steps, so the class keeps getting answers meanwhile. Its record in the job store says
        how it stands to every runner sharing the store."""
        adapter, sentences, params = op.adapter, op.sentences, op.params
        await self._check_new_job(adapter)
        loaded = await self.wait_ready()
        assert self._engine is not None
        job = _FineTune(job_id=adapter, adapter=adapter, progress=TrainingProgress())
        engine = self._engine
        request = {
            "sentences": sentences,
            "params": params.to_dict(),
            "model": self.config.model,
            "precision": self.config.finetune_precision,
        }
        longest = self.config.interleave_max_steps
        if self.hand_off is not None and longest and steps_of(sentences, params) > longest:
            return await asyncio.to_thread(self._hand_off, job, request)

        started, stepped = self._recorders(job)
        member = Member(
            job_id=job.job_id,
            sentences=sentences,
            params=params,
            progress=job.progress,
            destination=self.adapters.root / adapter,
            record=lambda losses: training_record(
                adapter, self.config.model, sentences, params, losses, job.progress.evaluation
            ),
            on_start=started,
            on_step=stepped,
        )
        job.member, job.future = member, member.future
        self._finetunes[job.job_id] = job
        await asyncio.to_thread(self._record, job, request)
        member.future.add_done_callback(lambda f: self._settle(job, f))
        self._join(engine, loaded, member)
        return self._status(job)

    async def _check_new_job(self, adapter: str) -> None:
        """No job of this id is queued or running, and no adapter of this id is saved."""
        mine = self._finetunes.get(adapter)
        if (mine is not None and mine.status in jobs.ACTIVE) or await asyncio.to_thread(
            self.jobs.active, adapter
        ):
            raise RunAlreadyActive(f"a fine-tune {adapter!r} is already running", field="adapter")
        self.adapters.check_new(adapter)

    def _recorders(self, job: _FineTune) -> tuple[Callable[[], None], Callable[[], None]]:
        """What the engine's thread calls when the job starts training, and after each of its
        steps: the job's record follows (progress at most every `jobs.WRITE_EVERY_S`)."""
        written = [0.0]

        def started() -> None:
            if job.status == "queued":  # not cancelled or stopped meanwhile
                job.status = "running"
                self._record(job)

        def stepped() -> None:
            if job.status == "running" and time.monotonic() - written[0] >= jobs.WRITE_EVERY_S:
                self._record(job)
                written[0] = time.monotonic()

        return started, stepped

    async def start_alignment(self, op: StartAlignment) -> FineTuneStatus:
        """Queue a DPO run on preference pairs that saves adapter `op.adapter`, against the
        frozen pre-trained model as the reference (`finetune.preference`). Like a fine-tune
        it trains between decode steps (taking turns with other training), and its
        record in the job store answers `finetune_status` and `cancel_finetune`."""
        adapter, pairs, params = op.adapter, op.pairs, op.params
        await self._check_new_job(adapter)
        loaded = await self.wait_ready()
        assert self._engine is not None
        engine = self._engine
        progress = AlignmentProgress()
        job = _FineTune(job_id=adapter, adapter=adapter, progress=progress)
        started, stepped = self._recorders(job)
        request = {
            "method": "dpo",
            "pairs": [pair.to_dict() for pair in pairs],
            "params": params.to_dict(),
            "model": self.config.model,
        }

        def steps() -> Iterator[None]:  # runs on the engine's thread, a slice per next()
            trained = None
            for model in preference_steps(
                engine.model, loaded.tokenizer, pairs, params, progress, on_start=started
            ):
                trained = model
                stepped()
                yield None
            record = alignment_record(adapter, self.config.model, pairs, params, progress)
            save_adapter(trained, self.adapters.root / adapter, record)

        work = BackgroundWork(steps())
        job.future = work.future
        self._finetunes[job.job_id] = job
        await asyncio.to_thread(self._record, job, request)
        work.future.add_done_callback(lambda f: self._settle(job, f))
        engine.run_in_background(work)
        return self._status(job)

    def _join(self, engine: DecodeEngine, loaded: LoadedModel, member: Member) -> None:
        """Put `member` in the cohort training now, or start a cohort for it."""
        with self._cohort_lock:
            if self._cohort is not None and self._cohort.join(member):
                return
            cohort = Cohort(
                engine.model,
                loaded.tokenizer,
                max_members=self.config.finetunes_together,
                slice_tokens=self.config.finetune_slice_tokens
                or (8192 if loaded.device.type == "cuda" else 512),
                precision=training_dtype(self.config.finetune_precision, loaded.device),
            )
            cohort.join(member)
            self._cohort = cohort
        work = engine.run_in_background(BackgroundWork(cohort.steps()))

        def ended(future: Future) -> None:
            # The engine dropped it (its thread died, the runner closed): its runs fail.
            error = None if future.cancelled() else future.exception()
            cohort.abandon(error or RunnerUnavailable(jobs.STOPPED))

        work.add_done_callback(ended)

    def _hand_off(self, job: _FineTune, request: dict) -> FineTuneStatus:
        """Queue `job` under the name of a process of its own, and start that process."""
        assert self.hand_off is not None
        owner = f"finetune-{uuid.uuid4().hex[:12]}"
        store = JobStore(self.jobs.root, owner, self.jobs.stale_s)
        store.beat()
        store.write(self._status(job), request)
        self._handed[job.job_id] = owner
        try:
            self.hand_off(job.job_id, owner)
        except Exception as error:  # the cluster refused it: the record says so
            log.exception("could not start fine-tune %s in a process of its own", job.job_id)
            self._handed.pop(job.job_id, None)
            job.status, job.error = "failed", f"could not start the fine-tune: {error}"
            store.write(self._status(job))
            store.retire()
        return self._status(job)

    def _settle(self, job: _FineTune, future: Future) -> None:
        if future.cancelled():
            if self._closing.is_set():
                job.status, job.error = "failed", jobs.STOPPED
            else:
                job.status = "cancelled"
        elif future.exception() is not None:
            job.status, job.error = "failed", str(future.exception())
        else:
            job.status = "done"
        self._record(job)

    def _record(self, job: _FineTune, request: dict | None = None) -> None:
        """Write the job's record (the owner's view); a store that cannot be written is
        logged, and the job goes on (this runner still answers for it)."""
        try:
            self.jobs.write(self._status(job), request)
        except OSError as error:
            log.error("cannot record fine-tune %s: %s", job.job_id, error)

    def _status(self, job: _FineTune) -> FineTuneStatus:
        cohort, waiting, together, eta = self._cohort, None, 0, None
        if cohort is not None and job.member is not None and job.status in jobs.ACTIVE:
            if job.status == "queued":
                waiting = cohort.starts_in_s(job.member)
            else:
                together, eta = cohort.last_packed, cohort.eta_s(job.member)
        status = progress_status(
            job.job_id,
            job.adapter,
            job.status,
            job.progress,
            job.error,
            starts_in_s=waiting,
            together=together,
            eta_s=eta,
        )
        if isinstance(job.progress, AlignmentProgress) and job.progress.agreement is not None:
            status = replace(status, preference=job.progress.agreement)
        return status

    async def _recorded(self, job_id: str) -> FineTuneStatus:
        """A job's status: this runner's own view if it trains it, else the job store's."""
        job = self._finetunes.get(job_id)
        if job is not None:
            return self._status(job)
        status = await asyncio.to_thread(self.jobs.read, job_id)
        if status is None:
            raise JobNotFound(f"no fine-tune job {job_id!r} on this runner", field="job_id")
        if status.status == "failed" and await asyncio.to_thread(self._saved, status.adapter):
            # The adapter was saved (whole: saving is atomic) just before its runner stopped.
            status = replace(status, status="done", error="")
        return status

    def _saved(self, adapter: str) -> bool:
        try:
            self.adapters.path(adapter)
        except (RunnerError, OSError):
            return False
        return True

    async def finetune_status(self, op: FineTuneProgress) -> FineTuneStatus:
        """A fine-tune's progress (JobNotFound for a job never started on this store)."""
        return await self._recorded(op.job_id)

    async def cancel_finetune(self, op: CancelFineTune) -> FineTuneStatus:
        """Stop a queued or running fine-tune (nothing is saved). A job another runner trains
        is asked to stop through the job store, and stops at that runner's next beat."""
        job = self._finetunes.get(op.job_id)
        if job is not None:
            if job.future is not None:
                await asyncio.to_thread(job.future.cancel)  # records it: off the event loop
            return self._status(job)
        status = await self._recorded(op.job_id)
        if status.status in jobs.ACTIVE:
            await asyncio.to_thread(self.jobs.request_cancel, op.job_id)
        return status

    async def unload_adapters(self, adapter_ids: list[str]) -> list[str]:
        """Unload these adapters from the shared model (those not decoding right now)."""
        engine = self._engine
        if engine is None:
            return []
        unloaded, _, _ = await self._on_worker(lambda _: engine.unload_adapters(adapter_ids))
        return unloaded

    async def list_adapters(self, _: ListAdapters | None = None) -> AdapterList:
        """The trained adapters on disk, with what each learned from."""
        return AdapterList(adapters=self.adapters.saved())

    # --- the pre-training steps made visible: attention, embeddings, backpropagation --------

    async def attention(self, op: Attention) -> AttentionResult:
        """Attention weights of one layer (default the last) over the text's tokens, of one
        head or averaged over heads."""

        def run(loaded: LoadedModel) -> AttentionResult:
            assert self._engine is not None
            # The engine's model, read on its thread: a PeftModel once adapters are loaded.
            return anatomy.attention(loaded, op.text, op.layer, op.head, shared=self._engine.model)

        result, q, c = await self._on_worker(run)
        return replace(result, **self._usage(q, c))

    async def embedding(self, op: Embedding) -> EmbeddingResult:
        """Each word's nearest tokens by cosine similarity of input embeddings, and a 2-D
        PCA picture of the words with their neighbours."""
        result, q, c = await self._on_worker(lambda m: anatomy.embedding(m, op.words, op.top))
        return replace(result, **self._usage(q, c))

    async def train_step(self, op: TrainStep) -> TrainStepResult:
        """A few gradient steps on the text with a throwaway LoRA adapter on a private copy of
        the model; the shared model's weights never change. It runs a step per slice between
        decode steps, taking turns with fine-tunes, so neither the class nor it waits long."""
        loaded = await self.wait_ready()
        engine = self._engine
        assert engine is not None
        if engine.down:
            raise RunnerUnavailable(engine.down)
        anatomy.check_token_count(loaded.tokenizer, op.text)  # refused before it queues
        if self._train_steps >= TRAIN_STEPS_WAITING:
            raise RunnerBusy(
                f"the model is busy ({self._train_steps} /trainstep runs waiting)",
                retry_after=engine.retry_after(),
            )
        queued = time.perf_counter()
        timing = {"compute": 0.0}

        def slices():
            steps = trainstep.train_step_slices(
                loaded, op.text, op.steps, op.learning_rate, shared=engine.model
            )
            timing.setdefault("start", time.perf_counter())
            while True:
                started = time.perf_counter()
                try:
                    value = next(steps)
                except StopIteration:
                    return
                finally:
                    timing["compute"] += time.perf_counter() - started
                yield value

        future = engine.run_in_background(BackgroundWork(slices()))
        limit = self.config.request_timeout_s
        self._train_steps += 1
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), limit)
        except TimeoutError:
            future.cancel()  # the engine drops it at its next turn
            raise RequestTimeout(f"the request took longer than {limit:g} s") from None
        finally:
            self._train_steps -= 1
        waited = timing.get("start", queued) - queued
        return replace(result, **self._usage(waited, timing["compute"]))

    async def adapter_archive(self, op: AdapterArchive) -> bytes:
        """A zip of a saved adapter's folder, with a README on loading it in a notebook."""
        path = self.adapters.path(op.adapter)  # an unknown id fails here, naming the adapter
        return await asyncio.to_thread(adapter_zip, path, self.config.model)
