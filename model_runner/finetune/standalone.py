"""A fine-tune in a process of its own, for runs too big to interleave with decoding.

A runner that decodes for a class trains small fine-tunes between its decode steps. A long
run (many sentences, many epochs, a bigger model) would hold a replica's worker for minutes,
so a runner configured with `interleave_max_steps` records such a job as queued and hands it
to a process of its own (on Ray Serve, a detached Ray actor: `model_runner.serve`), which runs
`train_job` here. Nothing here needs Ray.

`train_job` becomes the job's owner in the job store (`model_runner.jobs`): it beats, records
its progress, stops when any replica asks to cancel it, saves the adapter to the adapter store
whole or not at all, and records how the job ended. Replicas answer the job's status from that
record, and serve the adapter from the store once it is there, whichever replica started it.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from model_runner import jobs
from model_runner.finetune.precision import training_dtype
from model_runner.finetune.trainer import (
    TrainingProgress,
    progress_status,
    save_adapter,
    train_steps,
    training_record,
)
from model_runner.jobs import JobStore
from model_runner.loading import load_model
from model_runner.protocol import FineTuneParams, FineTuneStatus

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """A replica asked for the job to stop."""


class _Beating:
    """Touches the owner's file every `beat_s` on a thread of its own while training runs."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="finetune-beat", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.store.beat()
            except OSError as error:
                log.error("cannot write to the job store %s: %s", self.store.root, error)
            self._stop.wait(self.store.beat_s)

    def __enter__(self) -> _Beating:
        self.store.beat()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.store.retire()


def train_job(
    job_id: str,
    owner: str,
    *,
    data_dir: Path,
    model: str,
    device: str = "auto",
    stale_s: float = jobs.STALE_S,
    cache_dir: Path | None = None,
) -> FineTuneStatus:
    """Train the queued job `job_id` as `owner` (the name its record was queued under), from
    the request in its record; returns how it ended, as recorded.

    A job whose record is no longer queued under `owner` (cancelled, or recorded as lost
    while it waited) is left as it is.
    """
    store = JobStore(data_dir / "jobs", owner=owner, stale_s=stale_s)
    with _Beating(store):
        record = store.record(job_id)
        if record is None or record.get("owner") != owner or record.get("status") != "queued":
            found = store.read(job_id)
            log.info("fine-tune %s is no longer queued for %s: %s", job_id, owner, found)
            return found or progress_status(job_id, job_id, "failed", TrainingProgress(), "")
        request = record["request"]
        adapter = str(record.get("adapter") or job_id)
        progress = TrainingProgress()
        state, error = "running", ""
        try:
            _train(store, job_id, adapter, request, progress, data_dir, model, device, cache_dir)
            state = "done"
        except Cancelled:
            state = "cancelled"
        except Exception as failure:  # recorded for the group; the process itself ends cleanly
            log.exception("fine-tune %s failed", job_id)
            state, error = "failed", str(failure) or type(failure).__name__
        status = progress_status(job_id, adapter, state, progress, error)
        store.write(status)
        return status


def _train(
    store: JobStore,
    job_id: str,
    adapter: str,
    request: dict,
    progress: TrainingProgress,
    data_dir: Path,
    model: str,
    device: str,
    cache_dir: Path | None = None,
) -> None:
    def check_cancel() -> None:
        if store.cancel_requested(job_id):
            raise Cancelled

    check_cancel()
    store.write(progress_status(job_id, adapter, "running", progress, ""))
    loaded = load_model(model, device=device, data_dir=data_dir, cache_dir=cache_dir)
    sentences = list(request["sentences"])
    params = FineTuneParams.from_dict(request.get("params", {}))
    written = time.monotonic()
    trained = None
    for stepped in train_steps(
        loaded.model,
        loaded.tokenizer,
        sentences,
        params,
        progress,
        private_copy=False,
        precision=training_dtype(request.get("precision", "auto"), loaded.device),
    ):
        trained = stepped
        check_cancel()
        if time.monotonic() - written >= jobs.WRITE_EVERY_S:
            store.write(progress_status(job_id, adapter, "running", progress, ""))
            written = time.monotonic()
    record = training_record(
        adapter, model, sentences, params, progress.losses, progress.evaluation
    )
    save_adapter(trained, data_dir / "adapters" / adapter, record)
