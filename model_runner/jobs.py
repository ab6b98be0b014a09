"""Fine-tune job records in the adapter store: one owner, readable by every replica.

A job's record is `<data_dir>/jobs/<job_id>.json`, written only by the runner that trains it
(its owner): when it is queued, as it trains (at most every `WRITE_EVERY_S`), and when it ends.
Every runner that shares the store answers a job's status from the record, so the status does
not depend on which replica a request reaches, and it outlives the runner that trained it.

An owner proves it is alive by touching `jobs/owners/<owner>` every `BEAT_S`. A record that
says queued or running whose owner has not beaten for `STALE_S` belongs to a runner that
crashed or was replaced: the first reader records the job as failed, with that reason, so a
job never stays "running" for ever and nothing is silently lost (the group's sentences are in
the record's request, and an adapter is saved only whole). A runner that stops cleanly records
its unfinished jobs as failed at once. A job too big to train between decode steps is queued
under the name of the process it is handed to (`model_runner.finetune.standalone`); the
replica that queued it beats for that name until the process starts beating itself. Another
replica cancels a job by leaving
`jobs/<job_id>.cancel`, which the owner reads at its next beat.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import uuid
from pathlib import Path

from model_runner.protocol import FineTuneStatus
from model_runner.protocol.limits import check_id

BEAT_S = 5.0  # how often an owner touches its file
STALE_S = 30.0  # an owner silent this long is gone
WRITE_EVERY_S = 1.0  # progress writes while training, at most this often

ACTIVE = ("queued", "running")
LOST = (
    "the model runner training it stopped (crashed or was replaced) before it finished; "
    "nothing was saved"
)
STOPPED = "the model runner was stopped before the fine-tune finished; nothing was saved"


def new_owner() -> str:
    """A name for this runner process, unique across the replicas sharing a store."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class JobStore:
    """The records of fine-tune jobs under `root` (normally `<data_dir>/jobs`)."""

    def __init__(self, root: Path, owner: str | None = None, stale_s: float = STALE_S) -> None:
        self.root = root
        self.owner = owner or new_owner()
        self.stale_s = stale_s
        self.beat_s = min(BEAT_S, stale_s / 5)  # several beats fit in the window a reader allows
        self._owners = root / "owners"

    def _path(self, job_id: str, suffix: str = ".json") -> Path:
        return self.root / f"{check_id('job_id', job_id)}{suffix}"

    # --- the owner's side -----------------------------------------------------------------

    def beat(self, owner: str | None = None) -> None:
        """Say that this owner (or `owner`, a job handed to a process not started yet) is
        alive."""
        self._owners.mkdir(parents=True, exist_ok=True)
        (self._owners / (owner or self.owner)).write_text(str(time.time()), encoding="utf-8")

    def retire(self) -> None:
        """This owner stops (its jobs have been recorded as ended)."""
        (self._owners / self.owner).unlink(missing_ok=True)

    def write(self, status: FineTuneStatus, request: dict | None = None) -> None:
        """Record a job's status as its owner sees it (atomically: readers never see half)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(status.job_id)
        record = {
            **status.to_dict(),
            "owner": self.owner,
            "updated_at": time.time(),
            "request": request if request is not None else self._request(path),
        }
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, path)
        if status.status not in ACTIVE:
            self._path(status.job_id, ".cancel").unlink(missing_ok=True)

    @staticmethod
    def _request(path: Path) -> dict:
        try:
            return json.loads(path.read_text(encoding="utf-8")).get("request", {})
        except (OSError, ValueError):
            return {}

    def cancel_requested(self, job_id: str) -> bool:
        """Whether another replica asked this owner to stop the job."""
        return self._path(job_id, ".cancel").exists()

    # --- anyone's side --------------------------------------------------------------------

    def record(self, job_id: str) -> dict | None:
        """The job's whole record as written (status fields, owner, request), or None."""
        try:
            return json.loads(self._path(job_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def read(self, job_id: str) -> FineTuneStatus | None:
        """The job's status from its record, with a lost owner's job recorded as failed;
        None when no job with this id was ever started on this store."""
        path = self._path(job_id)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # a damaged record: as if never started (the adapter store decides)
        owner = record.pop("owner", "")
        record.pop("updated_at", None)
        record.pop("request", None)
        status = FineTuneStatus.from_dict(record)
        if status.status in ACTIVE and owner != self.owner and not self.alive(owner):
            status = dataclasses.replace(status, status="failed", error=LOST, eta_s=None)
            self.write(status)
        return status

    def active(self, job_id: str) -> bool:
        """Whether the job is queued or running on a live owner."""
        status = self.read(job_id)
        return status is not None and status.status in ACTIVE

    def alive(self, owner: str) -> bool:
        """Whether `owner` has beaten within `stale_s`."""
        if not owner or "/" in owner:
            return False
        try:
            beaten = (self._owners / owner).stat().st_mtime
        except (OSError, ValueError):
            return False
        return time.time() - beaten < self.stale_s

    def request_cancel(self, job_id: str) -> None:
        """Ask the job's owner (another replica) to stop it."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._path(job_id, ".cancel").touch()
