"""The batching engine: every decode request that is active shares one forward pass a step.

One thread (the runner's worker) owns the model and runs `run()`. Callers on any thread
`submit` a `DecodeJob` and wait on its future. Between steps the engine admits new jobs
(prefilling their prompts and merging their rows into the batch), runs queued calls (the
introspection operations), and drops finished, cancelled and timed-out jobs; then it runs
one forward pass over all rows, each job's stepper reading its own rows' logits. This is
"continuous batching" (Yu et al., 2022, Orca): requests join and leave at step boundaries.

Nothing one request does may stop the engine for the others. A forward pass that raises
leaves the batch as it was (it moves on only after a pass that worked; peft's routing hooks
are removed), the job that made it fail is found by running copies of each job's rows
alone, only that job fails, and the step is retried for the rest. A row about to pass the
model's last position is stopped first. The rows' cache is preallocated (batch.py), the
one-row methods choose their tokens together (decoding/choice.py), the vocabulary projection
and the CPU thread count are measured as it runs (head.py, threads.py).
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch

from model_runner.adapters import BASE, AdapterRegistry, reset_routing
from model_runner.decoding.beam import BeamStepper, beams_together
from model_runner.decoding.stepping import Decision, Stepper, TokenStepper, advance_together
from model_runner.engine import lineage
from model_runner.engine.attention import reading_buffers
from model_runner.engine.batch import RowBatch
from model_runner.engine.head import Held, StepLogits, VocabularyHead
from model_runner.engine.products import packed_products, prepare
from model_runner.engine.prompt_groups import pass_cost, prompt_groups
from model_runner.engine.threads import ThreadTuner
from model_runner.kv_cache import cache_argument, returned_cache
from model_runner.protocol import (
    InvalidRequest,
    RequestFailed,
    RequestTimeout,
    RunnerBusy,
    RunnerError,
    RunnerUnavailable,
)

log = logging.getLogger(__name__)
SPARE_IDLE_S = 60.0  # an emptied batch keeps its buffers for reuse this long without requests


# The parts of the engine's work whose seconds it counts (`DecodeEngine.spent`): prefilling
# prompts as they join, the decode steps' forward passes (the logits left out), the logits'
# projection, the requests' decisions (choosing tokens, ranking, beams), laying rows out again.
PHASES = ("prompts", "forward", "logits", "decisions", "layout")


class RequestCancelled(RunnerError):
    """The caller gave up on the request."""


def max_positions(model: torch.nn.Module) -> int | None:
    """How many positions the model has (GPT-2: 1,024), or None when it does not say."""
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


@dataclass
class DecodeJob:
    """One request inside the engine."""

    prompt_ids: list[int]
    stepper: Stepper
    timeout_s: float = 300.0
    adapter: str | None = None  # LoRA adapter id; None decodes with the base model
    future: Future = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)
    started: float | None = None  # when its prompt was prefilled
    compute_s: float = 0.0  # its share of forward-pass time
    stepped: int = 0  # decode steps taken since its prefill
    rows: list[int] = field(default_factory=list)  # its rows in the batch, in order
    alike: lineage.Alike = field(default_factory=list)  # per pair of its rows, the tick
    # before which their columns are the same (lineage.py)
    inputs: list[int] = field(default_factory=list)  # the next input token of each row
    tokens: list[int] = field(default_factory=list)  # the result, once done
    cancelled: bool = False

    def cancel(self) -> None:
        """Ask the engine to drop this job at the next step boundary."""
        self.cancelled = True


@dataclass
class BackgroundWork:
    """Long work (a fine-tune) done one slice per engine iteration, between decode steps."""

    steps: Iterator[Any]  # each next() does one slice; the last value yielded is the result
    future: Future = field(default_factory=Future)
    last: Any = None


@dataclass
class JobOutcome:
    """What the engine hands back for a finished job."""

    tokens: list[int]
    queue_s: float
    compute_s: float


@dataclass(frozen=True)
class Ahead:
    """What all prompts joining in one round need: the batch's rows once all have joined
    (beams and candidates counted), their new tokens, the longest prompt."""

    rows: int
    room: int
    longest: int


class DecodeEngine:
    """Continuous batching over one model; `run()` on the worker thread, `submit` anywhere."""

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device,
        *,
        queue_size: int = 256,
        max_rows: int = 128,
        adapters: AdapterRegistry | None = None,
        threads: int = 0,
    ) -> None:
        """`threads`: intra-op threads on a CPU, or 0 to measure which count decodes faster."""
        self.model = model
        self.adapters = adapters
        self.device = device
        self.queue_size = queue_size
        self.max_rows = max_rows
        self.max_positions = max_positions(model)
        self._inbox: queue.Queue[DecodeJob | BackgroundWork | tuple[Callable[[], Any], Future]]
        self._inbox = queue.Queue()
        self._calls = 0  # one-off calls queued and not yet run
        self._calls_lock = threading.Lock()
        self.down = ""  # why the engine is not serving (set while its thread is restarted)
        self.beat = time.monotonic()  # the last time the loop went round
        self._waiting: collections.deque[DecodeJob] = collections.deque()
        self._active: list[DecodeJob] = []
        self._batch = RowBatch(device)
        self._busy_at = time.monotonic()  # when requests were last active or waiting
        self.head = VocabularyHead()  # the logits, the fastest way measured (head.py)
        self._stop = threading.Event()
        self._background: collections.deque[BackgroundWork] = collections.deque()
        # Seconds of decoding owed after each background second while requests are waiting.
        self.decode_share = 1.0
        self._decode_until = 0.0
        self._job_s = 5.0  # moving average of a job's time from prefill to its last token
        self.steps = 0
        # The arithmetic done, for benchmarks: prompt tokens prefilled (real ones), rows
        # stepped (one position each) and rows whose logits were computed.
        self.prefill_positions = self.step_rows = self.logit_rows = 0
        self.prefill_padded = 0  # prompt positions computed, padding included
        # Seconds spent in each part of the work (benchmarks print where the time went).
        self.spent: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        if threads > 0:
            torch.set_num_threads(threads)
        tuned = device.type == "cpu" and threads == 0
        self.threads = ThreadTuner(torch.get_num_threads() if tuned else 1)

    # --- any thread ----------------------------------------------------------------------

    def submit(self, job: DecodeJob) -> Future:
        """Queue a job; raises `RunnerBusy` when the queue is full."""
        self._check_up()
        waiting = self._inbox.qsize() + len(self._waiting)
        if waiting >= self.queue_size:
            raise RunnerBusy(
                f"the model is busy ({waiting} requests waiting)", retry_after=self.retry_after()
            )
        self._inbox.put(job)
        return job.future

    def run_in_background(self, work: BackgroundWork) -> Future:
        """Queue long work; it advances one slice at a time between decode steps, taking turns
        with other background work (so a short /trainstep never waits for a fine-tune)."""
        self._inbox.put(work)
        return work.future

    def call(self, fn: Callable[[], Any]) -> Future:
        """Run `fn` on the worker between two steps (for the one-off model operations);
        raises `RunnerBusy` when as many calls as the queue holds are already waiting."""
        self._check_up()
        with self._calls_lock:
            if self._calls >= self.queue_size:
                raise RunnerBusy(
                    f"the model is busy ({self._calls} requests waiting)",
                    retry_after=self.retry_after(),
                )
            self._calls += 1
        future: Future = Future()
        self._inbox.put((fn, future))
        return future

    def _check_up(self) -> None:
        if self.down:
            raise RunnerUnavailable(self.down)

    def retry_after(self) -> float:
        """Seconds until the queue has likely moved on, from how long recent jobs took."""
        waiting = self._inbox.qsize() + len(self._waiting)
        parallel = max(1, len(self._active))
        return float(min(60, max(1, math.ceil(waiting * self._job_s / parallel))))

    def load(self) -> tuple[int, int]:
        """(waiting, active) decoding jobs right now."""
        return self._inbox.qsize() + len(self._waiting), len(self._active)

    def stop(self) -> None:
        """End `run()` after the current step; unfinished jobs fail."""
        self._stop.set()
        self._inbox.put((lambda: None, Future()))

    # --- the worker thread ----------------------------------------------------------------

    def run(self) -> None:
        """The engine loop; returns after `stop()`."""
        if self.device.type == "cpu":
            prepare(self.model)  # the layers' products through oneDNN (products.py)
        with torch.inference_mode(), packed_products():
            while not self._stop.is_set():
                self.beat = time.monotonic()
                try:
                    self._iteration()
                except Exception as error:  # noqa: BLE001 - the class keeps its model
                    log.exception("engine iteration failed; its decoding requests fail")
                    self._reset(RequestFailed(f"the model failed: {_short(error)}"))
        self.abandon(RunnerError("the runner is shutting down"))

    def _iteration(self) -> None:
        idle = not self._active and not self._waiting and not self._background
        self._take_inbox(block=idle)
        if self._active or self._waiting:
            self._busy_at = time.monotonic()
        elif time.monotonic() - self._busy_at > SPARE_IDLE_S:
            self._batch.drop_spares()  # no requests for a while: the memory goes back
        started = time.perf_counter()
        self._admit()
        self.spent["prompts"] += time.perf_counter() - started
        if self._active:
            self._step()
        if self._background and self._background_due():
            self._batch.drop_spares()  # a fine-tune may need the memory
            started = time.perf_counter()
            self._background_slice()
            # Fair share: decoding then gets at least as long as the slice took
            # before the next one, so a fine-tune at most halves the class's speed.
            spent = time.perf_counter() - started
            self._decode_until = time.perf_counter() + spent * self.decode_share

    def _reset(self, error: BaseException) -> None:
        """After an unexpected failure: every active job fails, the batch starts empty."""
        reset_routing(self.model)
        for job in self._active:
            self._fail(job, error)
        self._active = []
        self._batch = RowBatch(self.device)

    def abandon(self, error: BaseException) -> None:
        """Fail everything queued or running (the thread has stopped or died): decoding
        jobs, one-off calls and background work. Call only while no thread runs `run()`."""
        self._reset(error)
        while self._waiting:
            self._fail(self._waiting.popleft(), error)
        while self._background:
            work = self._background.popleft()
            if not work.future.done():
                work.future.set_exception(error)
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, DecodeJob):
                self._fail(item, error)
            elif isinstance(item, BackgroundWork):
                if not item.future.done():
                    item.future.set_exception(error)
            else:
                self._call_taken()
                if not item[1].done():
                    item[1].set_exception(error)

    def _call_taken(self) -> None:
        with self._calls_lock:
            self._calls = max(0, self._calls - 1)

    def _take_inbox(self, block: bool) -> None:
        try:
            item = self._inbox.get(timeout=0.5) if block else self._inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            if isinstance(item, DecodeJob):
                self._waiting.append(item)
            elif isinstance(item, BackgroundWork):
                self._background.append(item)
            else:
                fn, future = item
                self._call_taken()
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn())
                    except Exception as error:  # noqa: BLE001 - handed to the caller
                        reset_routing(self.model)
                        future.set_exception(error)
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return

    def _admit(self) -> None:
        """Prefill waiting jobs while there is room, and apply every job's first decision."""
        admitted: list[DecodeJob] = []
        rows = self._batch.rows
        while self._waiting and rows + self._waiting[0].stepper.prefill_rows <= self.max_rows:
            job = self._waiting.popleft()
            if job.cancelled or job.future.cancelled():
                self._fail(job, RequestCancelled("cancelled"))
                continue
            admitted.append(job)
            rows += job.stepper.prefill_rows
        if not admitted:
            return
        # The buffers are laid out once for everything joining (prompt_groups.py: prompts of
        # like length share a pass, so short prompts are not padded to the longest).
        decoding = [job.stepper.max_new_tokens - job.stepped for job in self._active]
        ahead = Ahead(
            rows=self._batch.rows + _rows_needed(admitted),
            # the rows already decoding need their columns too
            room=max([job.stepper.max_new_tokens for job in admitted] + decoding),
            longest=max(len(job.prompt_ids) for job in admitted),
        )
        lengths = [len(job.prompt_ids) for job in admitted]
        groups = prompt_groups(lengths, pass_cost(self.device))
        decisions: dict[int, Decision] = {}
        for group in groups:
            jobs = [admitted[i] for i in group]
            decisions.update(self._prefill_or_each(jobs, ahead))
        self._reorder(decisions)  # also drops the rows of jobs that ended at once

    def _prefill_or_each(self, jobs: list[DecodeJob], ahead: Ahead) -> dict[int, Decision]:
        """`jobs` prefilled together, or when that fails each alone with its own needs only
        (only the prompts that fail alone fail: not one that fits alone but not with the
        layout the whole round needs)."""
        try:
            return self._prefill(jobs, ahead)
        except Exception as error:  # noqa: BLE001 - a bad request must not stop the engine
            reset_routing(self.model)
            if len(jobs) == 1 and not self._asks_more(jobs[0], ahead):
                log.exception("prefill failed")
                self._fail(jobs[0], _as_runner_error(error))
                return {}
        log.warning("prefill of %d prompt(s) failed; trying each alone", len(jobs))
        decisions: dict[int, Decision] = {}
        for job in jobs:
            try:
                decisions.update(self._prefill([job]))  # its own needs only
            except Exception as alone:  # noqa: BLE001
                reset_routing(self.model)
                log.exception("prefill failed")
                self._fail(job, _as_runner_error(alone))
        return decisions

    def _asks_more(self, job: DecodeJob, ahead: Ahead) -> bool:
        """Whether `ahead` lays out more than `job` alone needs."""
        return (
            ahead.rows - self._batch.rows > _rows_needed([job])
            or ahead.room > job.stepper.max_new_tokens
            or ahead.longest > len(job.prompt_ids)
        )

    def _prefill(self, jobs: list[DecodeJob], ahead: Ahead | None = None) -> dict[int, Decision]:
        """One forward pass over `jobs`' prompts (left-padded), one row per prompt; `ahead`:
        what every prompt joining in this round needs, for the buffers' layout.

        A stepper that wants several copies of its prompt (beam search) gets the one row's
        logits repeated: the copies would compute exactly the same thing.
        """
        start = time.perf_counter()
        for job in jobs:
            job.started = start
            if job.adapter is not None:
                if self.adapters is None:
                    raise RunnerError("this runner has no adapters")
                self.model = self.adapters.attach(self.model, job.adapter)
        longest = max(len(job.prompt_ids) for job in jobs)
        ids = torch.zeros(len(jobs), longest, dtype=torch.long, device=self.device)
        mask = torch.zeros_like(ids)  # [jobs, longest], 0 = padding on the left
        for i, job in enumerate(jobs):
            ids[i, longest - len(job.prompt_ids) :] = torch.tensor(job.prompt_ids)
            mask[i, longest - len(job.prompt_ids) :] = 1
        hidden = any(job.stepper.needs_hidden for job in jobs)
        extra: dict[str, Any] = {}
        if self.adapters is not None and self.adapters.loaded:
            extra["adapter_names"] = [job.adapter or BASE for job in jobs]
        with self.head.deferred(self.model) as held:
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=(mask.cumsum(dim=1) - 1).clamp(min=0),
                use_cache=True,
                output_hidden_states=hidden,
                logits_to_keep=1,
                return_dict=True,
                **extra,
            )
        logits = self.head.logits(out, held).tensor  # [jobs, vocab]
        states = out.hidden_states[-1] if hidden else None  # [jobs, longest, H]
        self.prefill_positions += int(mask.sum())  # real tokens: padding is not work to do
        self.prefill_padded += ids.numel()
        self.logit_rows += len(jobs)
        elapsed = time.perf_counter() - start
        rows = _rows_needed(jobs)
        room = max(job.stepper.max_new_tokens for job in jobs)  # laid out once for all of it
        if ahead is not None:
            rows = max(rows, ahead.rows - self._batch.rows)  # (rows counts from the first new)
            room = max(room, ahead.room)
        first = self._batch.add(
            returned_cache(out),
            mask,
            rows=rows,
            room=min(room, self.max_positions or room),
            longest=ahead.longest if ahead is not None else 0,
        ).start
        decisions: dict[int, Decision] = {}
        for i, job in enumerate(jobs):
            job.compute_s += elapsed / len(jobs)
            copies = job.stepper.prefill_rows
            prompt_states = None
            if states is not None:
                prompt_states = states[i : i + 1, longest - len(job.prompt_ids) :]  # [1, P, H]
            try:
                decision = job.stepper.begin(
                    job.prompt_ids, logits[i : i + 1].expand(copies, -1), prompt_states
                )
            except Exception as error:  # noqa: BLE001
                log.exception("decoding failed to start")
                decision = None
                self._fail(job, error)
            self._active.append(job)
            job.rows = [first + i] * copies  # copies share the prompt's row until reordered
            job.alike = lineage.start(copies, self._batch.ticks)
            if decision is None:
                self._active.remove(job)
            elif decision.done:
                self._active.remove(job)
                self._finish(job, decision.tokens)
            else:
                decisions[id(job)] = decision
        return decisions

    def _step(self) -> None:
        """One forward pass over all rows, then every job's next decision."""
        now = time.perf_counter()
        for job in list(self._active):
            if job.cancelled or job.future.cancelled():
                self._drop(job, RequestCancelled("cancelled"))
            elif now - job.enqueued > job.timeout_s:
                self._drop(
                    job, RequestTimeout(f"the request took longer than {job.timeout_s:.0f} s")
                )
        self._stop_at_last_position()
        if not self._active:
            return
        tokens: list[int] = [0] * self._batch.rows  # each row's input, in the batch's order
        adapters = [BASE] * self._batch.rows
        for job in self._active:
            for row, token in zip(job.rows, job.inputs, strict=True):
                tokens[row] = token
                adapters[row] = job.adapter or BASE
        hidden = any(job.stepper.needs_hidden for job in self._active)
        self.threads.before_step()
        start = time.perf_counter()
        try:
            out, held = self._forward_step(self._batch, tokens, adapters, hidden)
            passed = time.perf_counter()
            states = out.hidden_states[-1] if hidden else None  # [rows, 1, H]
            job_states = {
                id(job): states.index_select(0, torch.tensor(job.rows, device=self.device))
                for job in self._active
                if states is not None and job.stepper.needs_hidden
            }
            reads = {id(job): self._rows_read(job, job_states.get(id(job))) for job in self._active}
            # Each request's rows side by side (the one-row methods' first, greedy before
            # sampling, in the order _decide takes them), so that the logits each one reads
            # are a view, not a copy.
            ordered = _by_kind(self._active)
            wanted = [row for job in ordered for row in reads[id(job)]]
            projecting = time.perf_counter()
            logits = self.head.logits(out, held, wanted)
        except Exception as error:  # noqa: BLE001 - find the job that caused it
            reset_routing(self.model)  # (the batch moves on only after a pass that worked)
            self._isolate(error)
            return
        self._batch.stepped()
        now = time.perf_counter()
        elapsed = now - start
        self.spent["forward"] += passed - start
        self.spent["logits"] += now - projecting
        self.spent["decisions"] += projecting - passed  # (contrastive's ranking)
        self.threads.after_step(elapsed, len(tokens))
        self.steps += 1
        self.step_rows += len(tokens)
        self.logit_rows += logits.computed
        for job in self._active:
            job.compute_s += elapsed * len(job.rows) / len(tokens)
            job.stepped += 1
        decisions: dict[int, Decision] = {}
        for job, outcome in self._decide(logits, job_states, reads, ordered):
            if isinstance(outcome, Exception):
                log.error("decoding step failed", exc_info=outcome)
                self._active.remove(job)  # its rows leave in _reorder below
                self._fail(job, outcome)
            elif outcome.done:
                self._active.remove(job)
                self._finish(job, outcome.tokens)
            else:
                decisions[id(job)] = outcome
        decided = time.perf_counter()
        self.spent["decisions"] += decided - now
        self._reorder(decisions)
        self.spent["layout"] += time.perf_counter() - decided

    @staticmethod
    def _rows_read(job: DecodeJob, states: torch.Tensor | None) -> list[int]:
        """The batch rows whose logits `job`'s stepper reads this step: all of its rows, or
        fewer where it says so (contrastive search: only the chosen candidate's)."""
        choose = getattr(job.stepper, "logit_rows", None)
        if choose is None:
            return job.rows
        try:
            return [job.rows[i] for i in choose(states)]
        except Exception:  # noqa: BLE001 - `advance` raises it again, for this job alone
            return job.rows

    def _decide(
        self,
        logits: StepLogits,
        states: dict[int, torch.Tensor],
        reads: dict[int, list[int]],
        ordered: list[DecodeJob],
    ) -> list[tuple[DecodeJob, Decision | Exception]]:
        """Every active job's decision from the step's logits: the one-row methods' tokens
        chosen together (choice.py), plain beam steps' vocabulary-wide work done together
        (beam.beams_together), the others by their own steppers, each given the rows
        it reads (`reads`) and its rows' hidden states (`states`, by job); `ordered`: the
        active jobs as the logits lay them out (`_by_kind`)."""
        together = [job for job in ordered if _together(job)]
        outcomes: list[tuple[DecodeJob, Decision | Exception]] = []
        if together:
            steppers = [job.stepper for job in together]
            try:
                rows = logits.of([job.rows[0] for job in together])
                chosen = advance_together(steppers, rows)  # type: ignore[arg-type]
            except Exception as error:  # noqa: BLE001 - a fault in the shared choice
                chosen = [error] * len(together)
            outcomes.extend(zip(together, chosen, strict=True))
        taken = {id(job) for job in together}
        groups: dict[int, list[DecodeJob]] = collections.defaultdict(list)
        for job in ordered:  # plain beam steps, by the continuations they look at
            if isinstance(job.stepper, BeamStepper) and job.stepper.plain_step:
                groups[job.stepper.keep].append(job)
        for group in groups.values():
            beam_steppers = [job.stepper for job in group]
            try:
                rows = logits.of([row for job in group for row in reads[id(job)]])
                stepped = beams_together(beam_steppers, rows)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001 - a fault in the shared calls: each on its own
                log.warning("beam requests stepped together failed; each steps alone")
                continue
            outcomes.extend(zip(group, stepped, strict=True))
            taken.update(id(job) for job in group)
        for job in self._active:
            if id(job) in taken:
                continue
            try:
                decision: Decision | Exception = job.stepper.advance(
                    logits.of(reads[id(job)]), states.get(id(job))
                )
            except Exception as error:  # noqa: BLE001
                decision = error
            outcomes.append((job, decision))
        return outcomes

    def _forward_step(
        self, batch: RowBatch, tokens: list[int], adapters: list[str], hidden: bool
    ) -> tuple[Any, Held]:
        """One forward pass of `batch`'s rows: row i reads `tokens[i]` with `adapters[i]`
        (the model's output, and the hidden states its logits are projected from)."""
        extra = {}
        if self.adapters is not None and self.adapters.loaded:
            extra["adapter_names"] = adapters
        inputs = batch.step_inputs(tokens)
        with self.head.deferred(self.model) as held, reading_buffers(batch):
            out = self.model(
                **inputs,
                **extra,
                **cache_argument(batch.cache),
                use_cache=True,
                output_hidden_states=hidden,
                return_dict=True,
            )
        return out, held

    def _isolate(self, error: BaseException) -> None:
        """A step failed: run each job's rows alone, fail the jobs that fail alone, keep the
        rest for the next step. If none fails alone, all of them fail (and the engine goes
        on with an empty batch)."""
        log.warning(
            "decode step over %d jobs failed (%s); trying each alone",
            len(self._active),
            _short(error),
        )
        culprits: list[tuple[DecodeJob, BaseException]] = []
        for job in list(self._active):
            alone = self._batch.clone_rows(job.rows)  # copies: the batch itself stays as it is
            adapters = [job.adapter or BASE] * len(job.rows)
            try:
                self._forward_step(alone, list(job.inputs), adapters, job.stepper.needs_hidden)
            except Exception as alone_error:  # noqa: BLE001
                reset_routing(self.model)
                culprits.append((job, alone_error))
        if not culprits:
            log.error("decode step failed for the whole batch", exc_info=error)
            self._reset(_as_runner_error(error))
            return
        for job, failure in culprits:
            log.error("decode step failed for one request", exc_info=failure)
            self._drop(job, _as_runner_error(failure))

    def _stop_at_last_position(self) -> None:
        """Fail the jobs whose next token would need a position the model does not have
        (requests are checked for this when they arrive; this keeps the engine safe)."""
        if self.max_positions is None or self._batch.length < self.max_positions:
            return  # no row holds more tokens than the batch is wide: nothing to read
        positions = self._batch.positions()
        for job in list(self._active):
            if any(positions[row] >= self.max_positions for row in job.rows):
                self._drop(
                    job,
                    InvalidRequest(
                        f"the text reached the model's limit of {self.max_positions} tokens",
                        field="max_new_tokens",
                    ),
                )
                positions = self._batch.positions()

    def unload_adapters(self, adapter_ids: list[str]) -> list[str]:
        """Take adapters out of the model (on the worker, between steps), except those a
        running job decodes with; a job that needs one later loads it again. Returns the
        ids unloaded."""
        if self.adapters is None:
            return []
        in_use = {job.adapter for job in self._active}
        return [
            adapter
            for adapter in adapter_ids
            if adapter not in in_use and self.adapters.detach(self.model, adapter)
        ]

    def _background_due(self) -> bool:
        """Background work runs when no one waits for tokens, or once decoding had its share."""
        busy = self._active or self._waiting
        return not busy or time.perf_counter() >= self._decode_until

    def _background_slice(self) -> None:
        """Advance the next background work by one slice (training needs autograd on); it
        then goes to the back of the line, behind the others."""
        work = self._background.popleft()
        if work.future.cancelled():
            return
        ended = False
        try:
            with torch.inference_mode(False), torch.enable_grad():
                work.last = next(work.steps)
        except StopIteration:
            ended = True
            work.future.set_result(work.last)
        except Exception as error:  # noqa: BLE001 - reported to whoever started the work
            ended = True
            if isinstance(error, RunnerError):  # a refusal with its own message, not a fault
                log.info("background work stopped: %s", error)
            else:
                log.exception("background work failed")
            work.future.set_exception(error)
        finally:
            if not ended:  # (also when the thread dies: abandon() then fails it)
                self._background.append(work)

    def _reorder(self, decisions: dict[int, Decision]) -> None:
        """Lay the rows out again after the jobs' decisions, moving as few as possible: the
        first row continuing a parent stays in the parent's place, and the other ones (beam
        and contrastive children, rows past the end after jobs left) fill the free places.
        A beam or contrastive child goes back to the one of its own request's places most
        like its parent, and only the columns in which they differ are copied (lineage.py);
        the batch is then told which columns each row holds alike with its request's first,
        and the next step's attention reads those once per request."""
        tick = self._batch.ticks
        wanted: list[tuple[DecodeJob, list[int], list[int] | None]] = []  # rows, as parents
        for job in self._active:
            decision = decisions.get(id(job))
            if decision is not None:
                job.inputs = decision.inputs
            if decision is not None and decision.parents is not None:
                parents = [job.rows[parent] for parent in decision.parents]
                wanted.append((job, parents, decision.parents))
            else:
                wanted.append((job, list(job.rows), None))
        total = sum(len(parents) for _, parents, _ in wanted)
        stays = {row for _, parents, _ in wanted for row in parents if row < total}
        unused = {row for row in range(total) if row not in stays}  # places to fill
        free = iter(sorted(unused))  # taken in order, each looked at once
        index = list(range(total))  # row i of the new layout continues current row index[i]
        tails: dict[int, int] = {}  # rows to copy only their last columns of
        for job, parents, chosen in wanted:
            before = job.alike
            place = {row: i for i, row in enumerate(job.rows)}  # its old rows' indices
            own = [row for row in dict.fromkeys(job.rows) if row in unused]
            rows = []
            for k, parent in enumerate(parents):
                if parent in stays:
                    stays.discard(parent)  # its first child keeps the place, the others copy
                    rows.append(parent)
                    continue
                if chosen is not None and own:
                    alike = before[chosen[k]]  # since when each old row is like the parent
                    row = max(own, key=lambda own_row: alike[place[own_row]])
                    own.remove(row)
                    tails[row] = tick - alike[place[row]]  # the columns written since
                else:
                    row = next(row for row in free if row in unused)
                unused.discard(row)
                index[row] = parent
                rows.append(row)
            job.rows = rows
            if chosen is not None:
                job.alike = lineage.after(before, chosen, tick)
        self._batch.select(index, tails)
        for job in self._active:
            if len(job.rows) > 1 and len(job.alike) == len(job.rows):
                self._batch.share(job.rows, job.alike[0])

    def _drop(self, job: DecodeJob, error: BaseException) -> None:
        """Between steps: take a job's rows out of the batch and fail its future."""
        self._active.remove(job)
        self._reorder({})
        self._fail(job, error)

    def _finish(self, job: DecodeJob, tokens: list[int]) -> None:
        now = time.perf_counter()
        self._job_s = 0.8 * self._job_s + 0.2 * (now - (job.started or now))
        queue_s = (job.started or now) - job.enqueued
        if not job.future.cancelled():
            job.future.set_result(JobOutcome(list(tokens), queue_s, job.compute_s))

    def _fail(self, job: DecodeJob, error: BaseException) -> None:
        if not job.future.done():
            job.future.set_exception(error)


def _together(job: DecodeJob) -> bool:
    """Whether `job`'s token is chosen with the other one-row methods' (choice.py)."""
    return isinstance(job.stepper, TokenStepper)


def _by_kind(jobs: list[DecodeJob]) -> list[DecodeJob]:
    """`jobs` in the order their logits are laid out: greedy search's, sampling's (each a
    block that choice.py reads without a copy), beam search's (one block for
    `beams_together`), then every other request's."""

    def kind(job: DecodeJob) -> int:
        if isinstance(job.stepper, BeamStepper):
            return 2
        if not _together(job):
            return 3
        return 0 if job.stepper.rule.generator is None else 1  # type: ignore[attr-defined]

    return sorted(jobs, key=kind)


def _rows_needed(jobs: list[DecodeJob]) -> int:
    """The batch rows `jobs` take once decoding (beams and contrastive candidates counted)."""
    return sum(max(job.stepper.rows, job.stepper.prefill_rows) for job in jobs)


def _short(error: BaseException) -> str:
    """The first line of an error, at most 200 characters, for logs and messages."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]


def _as_runner_error(error: BaseException) -> RunnerError:
    """What the request's caller is told: a runner error as it is, anything else wrapped."""
    if isinstance(error, RunnerError):
        return error
    return RequestFailed(f"the model failed on this request ({type(error).__name__})")
