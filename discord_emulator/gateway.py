"""The emulated gateway: Discord's WebSocket protocol with sessions, resume and compression.

Opcodes (Discord's gateway documentation): 0 DISPATCH, 1 HEARTBEAT, 2 IDENTIFY, 6 RESUME,
7 RECONNECT, 9 INVALID_SESSION, 10 HELLO, 11 HEARTBEAT_ACK. A session keeps every dispatch it
sent so that a client resuming after a dropped connection gets what it missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from discord_emulator.server import DiscordEmulator

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = (
    0,
    1,
    2,
    6,
    7,
    9,
    10,
    11,
)


class _Compressor:
    """zlib-stream (one context per connection, sync-flushed per message) or zstd-stream."""

    def __init__(self, kind: str | None) -> None:
        self.kind = kind
        if kind == "zlib-stream":
            self._zlib = zlib.compressobj()
        elif kind == "zstd-stream":
            import zstandard

            self._zstd = zstandard.ZstdCompressor().compressobj()
            self._flush = zstandard.COMPRESSOBJ_FLUSH_BLOCK
        elif kind is not None:
            raise ValueError(f"unsupported compress={kind}")

    def pack(self, text: str) -> bytes | str:
        data = text.encode()
        if self.kind == "zlib-stream":
            return self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        if self.kind == "zstd-stream":
            return self._zstd.compress(data) + self._zstd.flush(self._flush)
        return text


async def _not_connected(payload: dict[str, Any]) -> None:
    raise RuntimeError("the gateway session has no connection yet")


@dataclass
class Session:
    """A gateway session: survives dropped connections until invalidated."""

    id: str
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)  # dispatches, for RESUME
    socket: web.WebSocketResponse | None = None
    compressor: _Compressor | None = None
    resumes: int = 0
    identifies: int = 1
    # Sends one payload on the current connection (replaced on every IDENTIFY and RESUME).
    send: Callable[[dict[str, Any]], Awaitable[None]] = _not_connected


class Gateway:
    """Serves `/gateway` and dispatches events to the connected bot."""

    def __init__(self, emulator: DiscordEmulator, heartbeat_interval_ms: int = 41_250) -> None:
        self.emulator = emulator
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: dict[str, Session] = {}
        self.session: Session | None = None  # the current one
        self.ready = asyncio.Event()
        self.connections = 0

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """One WebSocket connection, from HELLO to close."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections += 1
        try:
            compressor = _Compressor(request.query.get("compress"))
        except ValueError as error:
            await ws.close(code=4000, message=str(error).encode())
            return ws
        session: Session | None = None

        async def send(payload: dict[str, Any]) -> None:
            packed = compressor.pack(json.dumps(payload))
            if isinstance(packed, bytes):
                await ws.send_bytes(packed)
            else:
                await ws.send_str(packed)

        await send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        async for message in ws:
            # Discord takes JSON payloads in text and in binary frames alike.
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            try:
                payload = json.loads(message.data)
                op, data = payload["op"], payload.get("d")
            except (ValueError, TypeError, KeyError):
                await ws.close(code=4002, message=b"Error while decoding payload.")
                break
            if op == HEARTBEAT:
                await send({"op": HEARTBEAT_ACK})
            elif op == IDENTIFY:
                if data.get("token") != self.emulator.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                session = Session(id=secrets.token_hex(16), socket=ws, compressor=compressor)
                session.send = send
                self.sessions[session.id] = session
                self.session = session
                await self._dispatch_to(session, "READY", self.emulator.ready_payload(session.id))
                for guild in self.emulator.guilds():
                    await self._dispatch_to(session, "GUILD_CREATE", guild.payload())
                self.ready.set()
            elif op == RESUME:
                known = self.sessions.get(data.get("session_id", ""))
                if known is None or data.get("token") != self.emulator.token:
                    await send({"op": INVALID_SESSION, "d": False})
                    continue
                session = known
                session.socket, session.compressor = ws, compressor
                session.send = send
                session.resumes += 1
                self.session = session
                missed = [p for p in session.sent if p["s"] > int(data.get("seq") or 0)]
                for dispatch in missed:
                    await send(dispatch)
                await self._dispatch_to(session, "RESUMED", {})
            # Other opcodes (presence, voice, request members) are accepted and ignored.
        if session is not None and session.socket is ws:
            session.socket = None
        return ws

    async def _dispatch_to(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        payload = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.sent.append(payload)
        if session.socket is not None and not session.socket.closed:
            await session.send(payload)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the bot; kept for replay if the bot is briefly disconnected."""
        if self.session is None:
            raise RuntimeError("no bot has identified with the gateway")
        await self._dispatch_to(self.session, event, data)

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the socket as a network failure would; the session stays resumable."""
        session = self.session
        if session is not None and session.socket is not None:
            await session.socket.close(code=code, message=b"dropped by the emulator")

    async def invalidate_session(self) -> None:
        """Tell the bot its session is gone: it must IDENTIFY again."""
        session = self.session
        if session is None:
            return
        self.sessions.pop(session.id, None)
        if session.socket is not None:
            await session.send({"op": INVALID_SESSION, "d": False})
