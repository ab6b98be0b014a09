"""`labbot runner`: the model runner as an HTTP service (aiohttp, JSON).

The API mirrors `model_runner.client.RunnerClient`; see docs/runner-api.md. When the service
listens beyond loopback every request except `GET /healthz` needs `Authorization: Bearer
<token>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from model_runner.api import RunnerError
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


def _auth_middleware(token: str | None) -> Callable:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token and request.path != "/healthz":
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return web.json_response(
                    {"error": "Unauthorized", "message": "missing or wrong bearer token"},
                    status=401,
                )
        return await handler(request)

    return check


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RunnerError as error:
        return web.json_response(error.to_dict(), status=error.status)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error serving %s", request.path)
        return web.json_response(
            {"error": "InternalError", "message": "the runner failed; see its log"}, status=500
        )


async def healthz(request: web.Request) -> web.Response:
    """Liveness and model status; no token needed."""
    info = await request.app[RUNNER_KEY].info()
    return web.json_response({"ok": info.status != "failed", "status": info.status})


async def get_info(request: web.Request) -> web.Response:
    """What the runner serves."""
    return web.json_response((await request.app[RUNNER_KEY].info()).to_dict())


def build_app(runner: ModelRunner, token: str | None = None) -> web.Application:
    """The aiohttp application serving `runner`."""
    app = web.Application(middlewares=[_auth_middleware(token), _errors])
    app[RUNNER_KEY] = runner
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/info", get_info)

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
