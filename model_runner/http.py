"""`labbot runner`: the model runner as an HTTP service (aiohttp, JSON).

Every operation of `model_runner.protocol` is `POST /v1/<operation>` with the request as JSON;
docs/runner-api.md documents it. When the service listens beyond loopback every request except
`GET /healthz` needs `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from model_runner.protocol import (
    OPERATIONS,
    AdapterArchive,
    InvalidRequest,
    Operation,
    RunnerBusy,
    RunnerError,
    StartFineTune,
)
from model_runner.runner import ModelRunner

log = logging.getLogger(__name__)

RUNNER_KEY = web.AppKey("runner", ModelRunner)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback ranges, which need no token."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# What every front end of the runner (this one, Ray Serve's) answers alike.
UNAUTHORIZED = {"error": "Unauthorized", "message": "missing or wrong bearer token"}
INTERNAL_ERROR = {"error": "InternalError", "message": "the runner failed; see its log"}


def authorized(path: str, authorization: str, token: str | None) -> bool:
    """Whether a request may be served: no token set, the health check, or the right one."""
    if not token or path == "/healthz":
        return True
    return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())


def error_headers(error: RunnerError) -> dict[str, str]:
    """`Retry-After` for a busy runner: whole seconds (RFC 9110), rounded up, so that 0.5 s
    does not read "retry now"."""
    if isinstance(error, RunnerBusy) and error.retry_after > 0:
        return {"Retry-After": str(math.ceil(error.retry_after))}
    return {}


def checked_body(body: object) -> dict:
    """A request body as its operation reads it: a JSON object."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return body


def success_status(operation: Operation[Any]) -> int:
    """202 for a fine-tune that was queued, 200 for the rest."""
    return 202 if isinstance(operation, StartFineTune) else 200


def archive_headers(operation: Operation[Any]) -> dict[str, str]:
    name = getattr(operation, "adapter", operation.name)
    return {"Content-Disposition": f'attachment; filename="{name}.zip"'}


def _auth_middleware(token: str | None) -> Callable:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not authorized(request.path, request.headers.get("Authorization", ""), token):
            return web.json_response(UNAUTHORIZED, status=401)
        return await handler(request)

    return check


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RunnerError as error:
        return web.json_response(error.to_dict(), status=error.status, headers=error_headers(error))
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error serving %s", request.path)
        return web.json_response(INTERNAL_ERROR, status=500)


async def healthz(request: web.Request) -> web.Response:
    """Liveness and model status; no token needed."""
    info = await request.app[RUNNER_KEY].info()
    ok = info.status != "failed"
    # 503 while failed, so health checks that only look at the status code see it too.
    return web.json_response({"ok": ok, "status": info.status}, status=200 if ok else 503)


async def get_info(request: web.Request) -> web.Response:
    """What the runner serves (the same as `POST /v1/info`, for a browser or curl)."""
    return web.json_response((await request.app[RUNNER_KEY].info()).to_dict())


async def _body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequest("the request body must be a JSON object") from None
    return checked_body(body)


async def get_archive(request: web.Request) -> web.StreamResponse:
    """An adapter's zip (the same as `POST /v1/adapter-archive`, for a browser or curl)."""
    return await _answer(request, AdapterArchive(request.match_info["adapter"]))


async def _answer(request: web.Request, operation: Operation[Any]) -> web.StreamResponse:
    result = await request.app[RUNNER_KEY].call(operation)
    if isinstance(result, bytes):
        return web.Response(
            body=result, content_type="application/zip", headers=archive_headers(operation)
        )
    return web.json_response(result.to_dict(), status=success_status(operation))


def handler_for(kind: type[Operation[Any]]) -> Handler:
    """`POST /v1/<operation>`: build the request from JSON (which checks it), serve it."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await _answer(request, kind.from_dict(await _body(request)))

    handle.__doc__ = kind.__doc__
    return handle


def build_app(runner: ModelRunner, token: str | None = None) -> web.Application:
    """The aiohttp application serving `runner`."""
    app = web.Application(middlewares=[_auth_middleware(token), _errors])
    app[RUNNER_KEY] = runner
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/info", get_info)
    app.router.add_get("/v1/adapters/{adapter}/archive", get_archive)
    for kind in OPERATIONS.values():
        app.router.add_post(kind.path(), handler_for(kind))

    async def lifecycle(app: web.Application):
        await runner.start()
        yield
        await runner.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def serve(runner: ModelRunner, host: str, port: int, token: str | None) -> None:
    """Run the service until interrupted; refuses to listen openly without a token."""
    if not token and not is_loopback(host):
        raise PermissionError(
            f"LABBOT_RUNNER_TOKEN: must be set when the runner listens on {host} (not loopback)"
        )
    web.run_app(build_app(runner, token), host=host, port=port, print=None)
