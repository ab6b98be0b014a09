"""The emulator holds a client to Discord's gateway and rate-limit rules, driven with plain
WebSocket and HTTP calls so that each rule is seen exactly as a client sees it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import types
import zlib

import aiohttp
import pytest

from discord_emulator import DiscordEmulator, intents, ratelimits
from discord_emulator.actions import ActionError, Actor
from discord_emulator.pace import Pace

TIME_SCALE = SCALE = 0.02  # heartbeat every 825 ms, identify once per 0.1 s


def identify(emu, **changes) -> dict:
    data = {"token": emu.token, "intents": intents.GUILDS, "properties": {"os": "linux"}}
    return {"op": 2, "d": {**data, **changes}}


async def connect(http, emu, query="?v=10&encoding=json"):
    ws = await http.ws_connect(emu.gateway_url + query)
    hello = await ws.receive_json(timeout=5)
    assert hello["op"] == 10
    return ws, hello["d"]["heartbeat_interval"]


async def until_closed(ws) -> int:
    while True:
        message = await ws.receive(timeout=10)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return ws.close_code


async def next_dispatch(ws, event: str) -> dict:
    while True:
        payload = await ws.receive_json(timeout=5)
        if payload.get("t") == event:
            return payload


@pytest.mark.parametrize(
    ("payloads", "code"),
    [
        ([{"op": 3, "d": {"status": "online"}}], 4003),  # before IDENTIFY
        ([{"op": 5, "d": None}], 4001),  # no such opcode
        (["identify", "identify"], 4005),
        (["identify:token"], 4004),
        (["identify:no-intents"], 4013),
        (["identify:unknown-intent"], 4013),
        (["identify:members"], 4014),  # privileged, not enabled for the app
        (["identify:bad-shard"], 4010),
        ([{"op": "1", "d": None}], 4002),
    ],
)
async def test_gateway_closes_with_discords_code(emu, http, payloads, code):
    variants = {
        "identify": {},
        "identify:token": {"token": "not-the-token"},
        "identify:no-intents": {"intents": None},
        "identify:unknown-intent": {"intents": 1 << 30},
        "identify:members": {"intents": intents.GUILDS | intents.GUILD_MEMBERS},
        "identify:bad-shard": {"shard": [1, 1]},
    }
    ws, _ = await connect(http, emu)
    for payload in payloads:
        if isinstance(payload, str):
            payload = identify(emu, **variants[payload])
        await ws.send_json(payload)
        await asyncio.sleep(0.05)
    assert await until_closed(ws) == code
    assert emu.gateway.closes[-1] == code


async def test_an_unsupported_api_version_is_refused(emu, http):
    ws = await http.ws_connect(emu.gateway_url + "?v=6&encoding=json")
    assert await until_closed(ws) == 4012


async def test_a_missed_heartbeat_closes_the_connection_and_the_session_resumes(emu, http):
    ws, interval_ms = await connect(http, emu)
    assert interval_ms == Pace(SCALE).heartbeat_interval_ms
    await ws.send_json(identify(emu))
    ready = await next_dispatch(ws, "READY")
    started = time.monotonic()
    assert await until_closed(ws) == 4000  # no heartbeat sent at all
    assert time.monotonic() - started < interval_ms / 1000 * 2
    assert [v.rule for v in emu.violations] == ["heartbeat"]
    await emu.gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(emu.guild.id), "role": {}})
    emu.violations.clear()  # the hand-made role above is not what this test is about

    ws, _ = await connect(http, emu)
    session_id = ready["d"]["session_id"]
    await ws.send_json({"op": 6, "d": {"token": emu.token, "session_id": session_id, "seq": 2}})
    missed = await ws.receive_json(timeout=5)
    assert missed["t"] == "GUILD_ROLE_CREATE" and missed["s"] == 3
    assert (await ws.receive_json(timeout=5))["t"] == "RESUMED"
    await ws.close()


async def test_heartbeats_in_time_keep_the_connection(emu, http):
    ws, interval_ms = await connect(http, emu)
    await ws.send_json(identify(emu))
    await next_dispatch(ws, "GUILD_CREATE")
    for _ in range(4):
        await asyncio.sleep(interval_ms / 1000 * 0.9)
        await ws.send_json({"op": 1, "d": 2})
        assert (await ws.receive_json(timeout=5))["op"] == 11
    assert not ws.closed and emu.gateway.missed_heartbeats == 0
    await ws.close()


async def test_resume_with_a_sequence_never_sent_is_refused(emu, http):
    ws, _ = await connect(http, emu)
    await ws.send_json(identify(emu))
    ready = await next_dispatch(ws, "READY")
    await ws.close()
    ws, _ = await connect(http, emu)
    resume = {"token": emu.token, "session_id": ready["d"]["session_id"], "seq": 99}
    await ws.send_json({"op": 6, "d": resume})
    assert await until_closed(ws) == 4007


async def test_identify_faster_than_max_concurrency_gets_invalid_session(emu, http):
    first, _ = await connect(http, emu)
    await first.send_json(identify(emu))
    await next_dispatch(first, "READY")
    second, _ = await connect(http, emu)
    await second.send_json(identify(emu))
    refused = await second.receive_json(timeout=5)
    assert refused == {"op": 9, "d": False}
    await asyncio.sleep(Pace(SCALE).identify_window_s)
    await second.send_json(identify(emu))
    assert (await next_dispatch(second, "READY"))["d"]["session_id"]
    async with http.get("/api/v10/gateway/bot") as reply:
        assert (await reply.json())["session_start_limit"]["remaining"] == 998
    await first.close()
    await second.close()


async def test_more_than_120_payloads_a_minute_is_rate_limited(emu, http):
    ws, _ = await connect(http, emu)
    await ws.send_json(identify(emu))
    await next_dispatch(ws, "READY")
    for _ in range(125):
        if ws.closed:
            break
        await ws.send_json({"op": 1, "d": None})
    assert await until_closed(ws) == 4008


async def test_guild_create_follows_the_presences_intent(http):
    emu = DiscordEmulator(time_scale=SCALE, privileged_intents=intents.PRIVILEGED)
    await emu.start()
    try:
        emu.add_member("Ada")
        async with aiohttp.ClientSession(base_url=emu.base_url) as session:
            for wanted, expected in (
                (intents.GUILDS, 1),
                (intents.GUILDS | intents.GUILD_PRESENCES, 3),
            ):
                ws, _ = await connect(session, emu)
                await ws.send_json(identify(emu, intents=wanted))
                guild = (await next_dispatch(ws, "GUILD_CREATE"))["d"]
                assert len(guild["members"]) == expected
                await ws.close()
                await asyncio.sleep(Pace(SCALE).identify_window_s)
    finally:
        await emu.stop()
    assert not emu.violations


async def test_dispatches_follow_intents_and_payload_compression(emu, http):
    ws, _ = await connect(http, emu)
    wanted = intents.GUILDS | intents.GUILD_MESSAGES
    await ws.send_json(identify(emu, intents=wanted, compress=True))
    # Payload compression: each dispatch is its own zlib stream in a binary frame.
    frame = await ws.receive(timeout=5)
    assert frame.type == aiohttp.WSMsgType.BINARY
    assert json.loads(zlib.decompress(frame.data))["t"] == "READY"
    channel = emu.guild.channel_named("lab").id
    async with http.post(f"/api/v10/channels/{channel}/messages", json={"content": "hi"}) as r:
        assert r.status == 200
    while True:
        payload = json.loads(zlib.decompress((await ws.receive(timeout=5)).data))
        if payload.get("t") == "MESSAGE_CREATE":
            break
    assert payload["d"]["content"] == "hi"  # the app's own message keeps its content
    await ws.close()


def test_others_messages_lose_their_content_without_the_intent():
    message = {"author": {"id": "7"}, "content": "secret", "embeds": [{}], "mentions": []}
    assert intents.without_content(message, bot_id="1")["content"] == ""
    assert intents.without_content(message, bot_id="7")["content"] == "secret"
    mentioning = {**message, "mentions": [{"id": "1"}]}
    assert intents.without_content(mentioning, bot_id="1")["content"] == "secret"
    assert intents.receives(intents.GUILDS, "INTERACTION_CREATE")
    assert not intents.receives(intents.GUILDS, "MESSAGE_CREATE")


async def test_rest_answers_carry_rate_limit_headers_and_429_has_them_all(emu, http):
    channel = emu.guild.channel_named("lab").id
    path = f"/api/v10/channels/{channel}/messages"
    seen = []
    for n in range(6):
        async with http.post(path, json={"content": f"m{n}"}) as reply:
            seen.append((reply.status, dict(reply.headers), await reply.json()))
    for status, headers, _ in seen[:5]:
        assert status == 200
        for name in ("Limit", "Remaining", "Reset", "Reset-After", "Bucket"):
            assert f"X-RateLimit-{name}" in headers
    assert [h["X-RateLimit-Remaining"] for _, h, _ in seen[:5]] == ["4", "3", "2", "1", "0"]
    status, headers, body = seen[5]
    assert status == 429 and headers["X-RateLimit-Scope"] == "user"
    assert float(headers["Retry-After"]) > 0 and headers["X-RateLimit-Remaining"] == "0"
    assert body["global"] is False and body["retry_after"] > 0 and body["message"]
    await asyncio.sleep(body["retry_after"])
    async with http.post(path, json={"content": "after the wait"}) as reply:
        assert reply.status == 200
    other = emu.guild.channel_named("general").id  # another channel: its own bucket
    async with http.post(f"/api/v10/channels/{other}/messages", json={"content": "x"}) as reply:
        assert reply.status == 200


async def test_the_global_limit_is_50_a_second(emu, http, monkeypatch):
    # The burst is within one second of the emulator's clock however slow the machine is.
    frozen = time.monotonic()
    clock = types.SimpleNamespace(monotonic=lambda: frozen, time=time.time)
    monkeypatch.setattr(ratelimits, "time", clock)
    statuses = []
    for _ in range(55):
        async with http.get("/api/v10/users/@me") as reply:
            statuses.append(reply.status)
            if reply.status == 429:
                assert reply.headers["X-RateLimit-Global"] == "true"
                assert (await reply.json())["global"] is True
    assert statuses.count(200) == 50 and statuses[-1] == 429


async def test_a_broken_dispatch_is_a_violation(emu, http, monkeypatch):
    original = type(emu.guild).payload

    def without_name(guild):
        return {k: v for k, v in original(guild).items() if k != "name"}

    monkeypatch.setattr(type(emu.guild), "payload", without_name)
    ws, _ = await connect(http, emu)
    await ws.send_json(identify(emu))
    await next_dispatch(ws, "GUILD_CREATE")
    await ws.close()
    assert any(
        v.rule == "emulator_dispatch" and "'name' is a required property" in v.detail
        for v in emu.violations
    )


async def test_an_interaction_nobody_answers_fails_after_discords_3_s(emu, http):
    base = f"{emu.api_base}/applications/{emu.application_id}/commands"
    async with http.post(base, json={"name": "hello", "description": "Say hello"}) as reply:
        assert reply.status == 201
    ws, interval_ms = await connect(http, emu)
    await ws.send_json(identify(emu))
    await next_dispatch(ws, "GUILD_CREATE")

    async def stay_connected_but_never_answer() -> None:
        while True:
            await ws.send_json({"op": 1, "d": None})
            with contextlib.suppress(TimeoutError):
                while True:  # drain (the interaction arrives and is ignored)
                    await ws.receive(timeout=interval_ms / 1000 * 0.8)

    keeper = asyncio.create_task(stay_connected_but_never_answer())
    ada = Actor(emu, emu.add_member("Ada"), emu.guild.channel_named("lab").id)
    started = emu.now()
    try:
        with pytest.raises(ActionError, match="never answered within 3 s"):
            await ada.slash("hello")
    finally:
        keeper.cancel()
    assert 3.0 < emu.now() - started < 5.0  # Discord's 3 s, not the actor's 120 s patience
    await ws.close()
