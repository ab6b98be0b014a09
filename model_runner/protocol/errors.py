"""What can go wrong with a runner operation, as types rather than strings.

Every error's message is safe to show a student. Each has an HTTP status, and crosses the
wire as `{"error": <class name>, "message": ..., "field": ..., ...}`; `from_wire` rebuilds the
same type on the client's side, so the bot tells "no such job" from "the runner is down" by
type, never by reading the message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RunnerError(Exception):
    """Something the caller asked for cannot be done; the message is safe to show a user."""

    status: ClassVar[int] = 400

    def __init__(
        self, message: str, *, field: str | None = None, template: str | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.template = template  # the message with "{field}" where the field's name goes

    def named(self, label: str) -> str:
        """The message with the field called `label` (a command's own option name)."""
        return self.template.format(field=label) if self.template else str(self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body of the HTTP API."""
        body = {"error": type(self).__name__, "message": str(self), "field": self.field}
        return {**body, "template": self.template} if self.template else body


class InvalidRequest(RunnerError):
    """A request field is missing, of the wrong type or outside its allowed range."""


class AdapterNotFound(RunnerError):
    """No saved adapter has this id (in this runner's adapter store)."""

    status = 404


class JobNotFound(RunnerError):
    """No fine-tune job with this id was ever started on this adapter store."""

    status = 404


class RunAlreadyActive(RunnerError):
    """A fine-tune with this id is queued, running or already saved an adapter."""

    status = 409


class RunnerBusy(RunnerError):
    """The queue is full; `retry_after` says when to try again."""

    status = 503

    def __init__(self, message: str, *, retry_after: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class RunnerUnavailable(RunnerError):
    """The runner cannot be reached, refused the bot's token, or its model failed to load."""

    status = 503


class RequestTimeout(RunnerError):
    """The request ran past its time limit."""

    status = 504


class RequestFailed(RunnerError):
    """The model failed on this request (the others in its batch carry on)."""

    status = 500


ERRORS: dict[str, type[RunnerError]] = {
    cls.__name__: cls
    for cls in (
        RunnerError,
        InvalidRequest,
        AdapterNotFound,
        JobNotFound,
        RunAlreadyActive,
        RunnerBusy,
        RunnerUnavailable,
        RequestTimeout,
        RequestFailed,
    )
}


def from_wire(status: int, body: Any) -> RunnerError:
    """Rebuild the runner's typed error from an HTTP status and its JSON body."""
    data = body if isinstance(body, dict) else {}
    message = str(data.get("message") or f"the runner answered HTTP {status}")
    field = data.get("field") if isinstance(data.get("field"), str) else None
    kind = ERRORS.get(str(data.get("error")))
    if status in (401, 403):
        return RunnerUnavailable(f"the runner refused the bot's token: {message}")
    if kind is RunnerBusy:
        retry = data.get("retry_after")
        retry_after = float(retry) if isinstance(retry, int | float) else 5.0
        return RunnerBusy(message, retry_after=retry_after, field=field)
    template = data.get("template") if isinstance(data.get("template"), str) else None
    if kind is not None:
        return kind(message, field=field, template=template)
    if status == 400:
        return InvalidRequest(message, field=field, template=template)
    return RunnerUnavailable(message)
