"""`labbot runner`: the model runner as an HTTP service (aiohttp, JSON).

The API mirrors `model_runner.client.RunnerClient`; docs/runner-api.md documents it. When the service
listens beyond loopback every request except `GET /healthz` needs `Authorization: Bearer
<token>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from model_runner.api import InvalidRequest, RunnerBusy, RunnerError
from model_runner.decoding.params import DecodingParams
from model_runner.finetune.params import FineTuneParams
from model_runner.lab_params import LEARNING_RATE_DEFAULT, STEPS_DEFAULT, TOP_DEFAULT
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
        headers = {}
        if isinstance(error, RunnerBusy) and error.retry_after > 0:
            # Whole seconds (RFC 9110), rounded up: 0.5 s must not read "retry now".
            headers["Retry-After"] = str(math.ceil(error.retry_after))
        return web.json_response(error.to_dict(), status=error.status, headers=headers)
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
    ok = info.status != "failed"
    # 503 while failed, so health checks that only look at the status code see it too.
    return web.json_response({"ok": ok, "status": info.status}, status=200 if ok else 503)


async def get_info(request: web.Request) -> web.Response:
    """What the runner serves."""
    return web.json_response((await request.app[RUNNER_KEY].info()).to_dict())


async def _body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequest("the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return body


def _field(body: dict, name: str, kind: type, default=None, required: bool = False):
    if name not in body or body[name] is None:
        if required:
            raise InvalidRequest(f"{name} is required", field=name)
        return default
    value = body[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise InvalidRequest(f"{name} must be a {kind.__name__}", field=name)
    return value


async def post_generate(request: web.Request) -> web.Response:
    """Continue a prompt with one decoding method."""
    runner = request.app[RUNNER_KEY]
    body = await _body(request)
    prompt = _field(body, "prompt", str, required=True)
    adapter = _field(body, "adapter", str)
    params = DecodingParams.from_dict(body, ceiling=runner.config.max_new_tokens)
    return web.json_response((await runner.generate(prompt, params, adapter)).to_dict())


async def post_compare(request: web.Request) -> web.Response:
    """The lab's four decoding methods on one prompt."""
    runner = request.app[RUNNER_KEY]
    body = await _body(request)
    result = await runner.compare(
        _field(body, "prompt", str, required=True),
        max_new_tokens=_field(body, "max_new_tokens", int, 50),
        seed=_field(body, "seed", int),
    )
    return web.json_response(result.to_dict())


async def post_next_token(request: web.Request) -> web.Response:
    """The most likely next tokens."""
    body = await _body(request)
    result = await request.app[RUNNER_KEY].next_token(
        _field(body, "prompt", str, required=True),
        temperature=_field(body, "temperature", float, 1.0),
        top=_field(body, "top", int, 10),
    )
    return web.json_response(result.to_dict())


async def post_tokenize(request: web.Request) -> web.Response:
    """How the tokenizer splits a text."""
    body = await _body(request)
    result = await request.app[RUNNER_KEY].tokenize(_field(body, "text", str, required=True))
    return web.json_response(result.to_dict())


async def post_loss(request: web.Request) -> web.Response:
    """Per-token loss of a text."""
    body = await _body(request)
    result = await request.app[RUNNER_KEY].loss(_field(body, "text", str, required=True))
    return web.json_response(result.to_dict())


async def post_finetune(request: web.Request) -> web.Response:
    """Start a LoRA fine-tune: `adapter`, `sentences` and the FineTuneParams fields."""
    body = await _body(request)
    status = await request.app[RUNNER_KEY].start_finetune(
        _field(body, "adapter", str, required=True),
        _field(body, "sentences", list, required=True),
        FineTuneParams.from_dict(body),
    )
    return web.json_response(status.to_dict(), status=202)


async def get_finetune(request: web.Request) -> web.Response:
    """A fine-tune's progress."""
    status = request.app[RUNNER_KEY].finetune_status(request.match_info["job_id"])
    return web.json_response(status.to_dict())


async def delete_finetune(request: web.Request) -> web.Response:
    """Cancel a fine-tune."""
    status = await request.app[RUNNER_KEY].cancel_finetune(request.match_info["job_id"])
    return web.json_response(status.to_dict())


async def get_adapters(request: web.Request) -> web.Response:
    """The trained adapters."""
    adapters = request.app[RUNNER_KEY].list_adapters()
    return web.json_response({"adapters": [a.to_dict() for a in adapters]})


async def post_attention(request: web.Request) -> web.Response:
    """Attention weights of one layer over a text's tokens."""
    body = await _body(request)
    result = await request.app[RUNNER_KEY].attention(
        _field(body, "text", str, required=True),
        layer=_field(body, "layer", int),
        head=_field(body, "head", int),
    )
    return web.json_response(result.to_dict())


async def post_embedding(request: web.Request) -> web.Response:
    """Nearest tokens of words in the input-embedding space, and a 2-D PCA picture."""
    body = await _body(request)
    result = await request.app[RUNNER_KEY].embedding(
        _field(body, "words", list, required=True),
        top=_field(body, "top", int, TOP_DEFAULT),
    )
    return web.json_response(result.to_dict())


async def post_train_step(request: web.Request) -> web.Response:
    """A few gradient steps on one sentence, on a throwaway LoRA adapter."""
    body = await _body(request)
    result = await request.app[RUNNER_KEY].train_step(
        _field(body, "text", str, required=True),
        steps=_field(body, "steps", int, STEPS_DEFAULT),
        learning_rate=_field(body, "learning_rate", float, LEARNING_RATE_DEFAULT),
    )
    return web.json_response(result.to_dict())


async def get_adapter_archive(request: web.Request) -> web.Response:
    """A saved adapter as a zip, ready to load in a notebook."""
    adapter_id = request.match_info["adapter_id"]
    data = await request.app[RUNNER_KEY].adapter_archive(adapter_id)
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{adapter_id}.zip"'},
    )


def build_app(runner: ModelRunner, token: str | None = None) -> web.Application:
    """The aiohttp application serving `runner`."""
    app = web.Application(middlewares=[_auth_middleware(token), _errors])
    app[RUNNER_KEY] = runner
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/info", get_info)
    app.router.add_post("/v1/generate", post_generate)
    app.router.add_post("/v1/compare", post_compare)
    app.router.add_post("/v1/next-token", post_next_token)
    app.router.add_post("/v1/tokenize", post_tokenize)
    app.router.add_post("/v1/loss", post_loss)
    app.router.add_post("/v1/finetune", post_finetune)
    app.router.add_get("/v1/finetune/{job_id}", get_finetune)
    app.router.add_delete("/v1/finetune/{job_id}", delete_finetune)
    app.router.add_get("/v1/adapters", get_adapters)
    app.router.add_get("/v1/adapters/{adapter_id}/archive", get_adapter_archive)
    app.router.add_post("/v1/attention", post_attention)
    app.router.add_post("/v1/embedding", post_embedding)
    app.router.add_post("/v1/train-step", post_train_step)

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
