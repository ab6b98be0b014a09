"""The emulator catches what Discord would reject and what our rules forbid."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.conftest import running_lab

CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"


@pytest.fixture
async def planted(tmp_path):
    """The bot with the rule-breaking commands; the tests inspect the violations."""
    async with running_lab(
        tmp_path, extra_extensions=["tests.e2e.planted"], check_contract=False
    ) as harness:
        yield harness


def rules(harness) -> list[str]:
    return [v.rule for v in harness.emulator.violations]


async def test_oversized_embeds_are_rejected(planted):
    reply = await planted.actor("Ada").slash("plant-big-embed")
    assert "something went wrong" in reply.text  # Discord refused it; the user gets an apology
    violation = next(v for v in planted.emulator.violations if v.rule == "embed_total_length")
    assert violation.endpoint == f"POST {CALLBACK}"
    assert "8000" in violation.detail


async def test_first_response_after_3_s_is_caught(planted):
    actor = planted.actor("Ada")
    reply = await actor.slash("plant-slow", wait=False)
    planted.emulator.advance_clock(3.0)
    await asyncio.sleep(1.0)
    assert reply.interaction.original is None
    assert "first_response_3s" in rules(planted)


async def test_pings_are_caught(planted):
    await planted.actor("Ada").slash("plant-ping")
    violation = next(v for v in planted.emulator.violations if v.rule == "allowed_mentions")
    assert "everyone" in violation.detail


async def test_missing_allowed_mentions_is_caught(planted):
    await planted.actor("Ada").slash("plant-raw")
    await asyncio.sleep(0.3)
    violation = next(v for v in planted.emulator.violations if v.rule == "allowed_mentions")
    assert violation.endpoint == "POST /channels/{channel_id}/messages"
    assert "missing" in violation.detail


async def test_second_initial_response_is_caught(planted):
    await planted.actor("Ada").slash("plant-twice")
    assert "one_initial_response" in rules(planted)


async def test_follow_up_after_15_minutes_is_refused(lab):
    actor = lab.actor("Ada")
    reply = await actor.slash("help")
    lab.emulator.advance_clock(15 * 60 + 1)
    interaction = reply.interaction
    url = (
        f"{lab.emulator.api_base}/webhooks/{lab.emulator.application_id}/"
        f"{interaction.token}/messages/@original"
    )
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.patch(
            url, json={"content": "late", "allowed_mentions": {"parse": []}}
        ) as r:
            assert r.status == 401
    assert [v.rule for v in lab.emulator.violations] == ["token_15min"]
    lab.emulator.violations.clear()


async def put_commands(lab, commands) -> int:
    import aiohttp

    url = f"{lab.emulator.api_base}/applications/{lab.emulator.application_id}/commands"
    headers = {"Authorization": f"Bot {lab.emulator.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.put(url, json=commands, headers=headers) as reply:
            return reply.status


async def test_schema_violation_names_the_field(lab):
    assert await put_commands(lab, [{"name": "x" * 40, "description": "too long a name"}]) == 400
    violation = lab.emulator.violations.pop()
    assert violation.rule == "openapi" and "0/name" in violation.detail


async def test_command_naming_rules_beyond_the_spec(lab):
    assert await put_commands(lab, [{"name": "Bad Name!", "description": "x"}]) == 400
    violation = lab.emulator.violations.pop()
    assert violation.rule == "command_name" and "Bad Name!" in violation.detail


async def test_rate_limited_answer_is_retried(lab):
    lab.emulator.rate_limit("POST", CALLBACK, retry_after=0.3)
    reply = await lab.actor("Ada").slash("help")
    assert "/about" in reply.text
    assert lab.emulator.requests.count(("POST", CALLBACK)) == 2


async def test_server_error_is_retried(lab):
    lab.emulator.fail_next("POST", CALLBACK, status=502)
    reply = await lab.actor("Ada").slash("help")
    assert "/about" in reply.text
