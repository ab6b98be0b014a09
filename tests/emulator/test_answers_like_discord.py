"""The emulator answers what Discord answers, driven with plain HTTP and WebSocket calls (no
discord.py), so a client that follows Discord's documentation gets what Discord gives it."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from discord_emulator import DiscordEmulator

APPLICATION_COMMAND = 2


def api(emu, path: str) -> str:
    return emu.api_base.removeprefix(emu.base_url) + path


async def post_politely(http, path: str, **kwargs) -> dict:
    """POST, waiting out a 429 as a client that honours Discord's rate limits does."""
    while True:
        async with http.post(path, **kwargs) as reply:
            body = await reply.json()
            if reply.status != 429:
                return body
        await asyncio.sleep(body["retry_after"])


async def test_gateway_takes_json_in_binary_frames(emu, http):
    async with http.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
        hello = await ws.receive_json()
        assert hello["op"] == 10
        identify = {"op": 2, "d": {"token": emu.token, "intents": 1, "properties": {}}}
        await ws.send_bytes(json.dumps(identify).encode())
        ready = await ws.receive_json(timeout=5)
        assert ready["t"] == "READY"


async def test_gateway_closes_on_a_payload_it_cannot_decode(emu, http):
    async with http.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
        await ws.receive_json()
        await ws.send_bytes(b"\x83not json")
        closing = await ws.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 4002


async def test_message_history_pages_with_before_after_and_around(emu, http):
    channel = emu.guild.channel_named("lab").id
    path = api(emu, f"/channels/{channel}/messages")
    ids = []
    for n in range(7):
        ids.append(int((await post_politely(http, path, json={"content": f"message {n}"}))["id"]))

    async def page(**query) -> list[int]:
        async with http.get(path, params={k: str(v) for k, v in query.items()}) as reply:
            assert reply.status == 200, await reply.text()
            return [int(m["id"]) for m in await reply.json()]

    assert await page(limit=3) == ids[:-4:-1]  # newest first
    assert await page(before=ids[3], limit=2) == [ids[2], ids[1]]
    assert await page(after=ids[3], limit=2) == [ids[5], ids[4]]  # right after, newest first
    assert await page(around=ids[3], limit=4) == [ids[4], ids[3], ids[2], ids[1]]
    assert await page(before=ids[0]) == []  # the end: paging stops
    for bad in ({"limit": 0}, {"limit": 101}, {"before": ids[1], "after": ids[0]}):
        async with http.get(path, params={k: str(v) for k, v in bad.items()}) as reply:
            assert reply.status == 400 and (await reply.json())["code"] == 50035


async def test_callback_and_follow_up_answer_204_unless_asked_for_the_message(emu, http):
    member = emu.add_member("Ada", [])
    channel = emu.guild.channel_named("lab").id
    answer = {"type": 4, "data": {"content": "hello"}}
    for query, status in (("", 204), ("?with_response=true", 200)):
        interaction = emu.new_interaction(APPLICATION_COMMAND, member.id, channel)
        path = api(emu, f"/interactions/{interaction.id}/{interaction.token}/callback{query}")
        async with http.post(path, json=answer) as reply:
            assert reply.status == status
            if status == 200:
                assert (await reply.json())["resource"]["message"]["content"] == "hello"
    webhook = api(emu, f"/webhooks/{emu.application_id}/{interaction.token}")
    async with http.post(webhook, json={"content": "more"}) as reply:
        assert reply.status == 204
    async with http.post(webhook + "?wait=true", json={"content": "more"}) as reply:
        assert reply.status == 200 and (await reply.json())["content"] == "more"


async def test_starting_a_thread_answers_201(emu, http):
    channel = emu.guild.channel_named("lab").id
    async with http.post(api(emu, f"/channels/{channel}/threads"), json={"name": "t"}) as reply:
        assert reply.status == 201 and (await reply.json())["type"] == 11


async def test_components_get_discord_s_ids_and_answers_match_the_spec(emu, http):
    channel = emu.guild.channel_named("lab").id
    row = {"type": 1, "components": [{"type": 2, "style": 1, "label": "A", "custom_id": "a"}]}
    row["components"].append({"type": 2, "style": 1, "label": "B", "custom_id": "b", "id": 7})
    body = {"components": [row], "allowed_mentions": {"parse": []}}
    async with http.post(api(emu, f"/channels/{channel}/messages"), json=body):
        pass
    (message,) = emu.channel_history(channel)
    numbered = message.payload["components"][0]
    assert numbered["id"] == 1 and [b["id"] for b in numbered["components"]] == [2, 7]

    member = emu.add_member("Ada", [])
    for path in (
        f"/guilds/{emu.guild.id}?with_counts=true",
        f"/guilds/{emu.guild.id}/members/{member.id}",
        "/users/@me",
        "/oauth2/applications/@me",
    ):
        async with http.get(api(emu, path)) as reply:
            assert reply.status == 200, path
    async with http.get(api(emu, f"/guilds/{emu.guild.id}/members/1")) as reply:
        assert reply.status == 404 and (await reply.json())["code"] == 10007
    assert not emu.violations, emu.violations  # every answer validated against the spec


async def test_one_command_is_created_fetched_replaced_and_deleted(emu, http):
    base = api(emu, f"/applications/{emu.application_id}/guilds/{emu.guild.id}/commands")
    command = {"name": "hello", "description": "Say hello", "type": 1}
    async with http.post(base, json=command) as reply:
        assert reply.status == 201
        created = await reply.json()
    async with http.post(base, json={**command, "description": "Say hi"}) as reply:
        assert reply.status == 200 and (await reply.json())["id"] == created["id"]
    async with http.get(f"{base}/{created['id']}") as reply:
        assert (await reply.json())["description"] == "Say hi"
    async with http.delete(f"{base}/{created['id']}") as reply:
        assert reply.status == 204
    async with http.get(f"{base}/{created['id']}") as reply:
        assert reply.status == 404 and (await reply.json())["code"] == 10063
    assert not emu.violations, emu.violations


def test_the_token_is_shaped_like_discord_s():
    import base64

    emulator = DiscordEmulator()
    head, stamp, secret = emulator.token.split(".")
    assert (
        base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        == str(emulator.application_id).encode()
    )
    assert stamp and len(secret) >= 27
