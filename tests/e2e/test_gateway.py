"""The bot survives a dropped gateway connection and an invalidated session."""

from __future__ import annotations

import asyncio


async def wait_for(predicate, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_resumes_after_dropped_connection(lab):
    gateway = lab.emulator.gateway
    session = gateway.session
    await gateway.drop_connection()
    await wait_for(lambda: session.resumes == 1 and session.socket is not None)
    assert gateway.session is session  # resumed, not re-identified
    reply = await lab.actor("Ada").slash("help")
    assert "/about" in reply.text


async def test_events_sent_while_disconnected_are_replayed(lab):
    gateway = lab.emulator.gateway
    session = gateway.session
    await gateway.drop_connection()
    await wait_for(lambda: session.socket is None)
    reply = await lab.actor("Ada").slash("help")  # dispatched into the gap, replayed on RESUME
    assert "/about" in reply.text and session.resumes == 1


async def test_identifies_again_after_invalid_session(lab, monkeypatch):
    async def no_pause(shard_id, *, initial=False):  # discord.py waits 5 s before re-identifying
        return None

    monkeypatch.setattr(lab.bot, "before_identify_hook", no_pause)
    gateway = lab.emulator.gateway
    first = gateway.session
    await gateway.invalidate_session()
    await wait_for(lambda: gateway.session is not first and gateway.session.socket is not None)
    reply = await lab.actor("Ada").slash("help")
    assert "/about" in reply.text


async def test_zlib_and_zstd_compression(lab):
    import zlib

    import zstandard

    from discord_emulator.gateway import _Compressor

    z = _Compressor("zlib-stream")
    d = zlib.decompressobj()
    assert d.decompress(z.pack('{"a": 1}')) == b'{"a": 1}'
    assert d.decompress(z.pack('{"b": 2}')) == b'{"b": 2}'
    s = _Compressor("zstd-stream")
    dz = zstandard.ZstdDecompressor().decompressobj()
    assert dz.decompress(s.pack('{"a": 1}')) == b'{"a": 1}'
    assert dz.decompress(s.pack('{"b": 2}')) == b'{"b": 2}'
