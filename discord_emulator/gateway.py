"""The emulated gateway: Discord's WebSocket protocol, held to Discord's rules.

Opcodes (Discord's gateway documentation): 0 DISPATCH, 1 HEARTBEAT, 2 IDENTIFY, 3 PRESENCE
UPDATE, 4 VOICE STATE UPDATE, 6 RESUME, 7 RECONNECT, 8 REQUEST GUILD MEMBERS, 9 INVALID
SESSION, 10 HELLO, 11 HEARTBEAT ACK, 31 REQUEST SOUNDBOARD SOUNDS. A session keeps every
dispatch it sent so that a client resuming after a dropped connection gets what it missed.

What it enforces, with the close code Discord uses ("Gateway Close Event Codes"):
4001 unknown opcode, 4002 a payload that is not JSON or has the wrong shape, 4003 a payload
before IDENTIFY, 4004 a wrong token, 4005 a second IDENTIFY, 4007 RESUME with a sequence the
session never sent, 4008 more than 120 payloads in 60 s, 4010 an invalid shard, 4012 an API
version other than 9 or 10, 4013/4014 invalid or disallowed intents (see `intents.py`); a
missed heartbeat closes the connection (4000, the session stays resumable) and is recorded
as a contract violation; IDENTIFY faster than once per 5 s gets INVALID_SESSION. Windows
follow `pace.Pace`. Every dispatch is checked against the spec's schemas (`contract`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from discord_emulator import contract, intents
from discord_emulator.pace import (
    GATEWAY_SEND_LIMIT,
    HEARTBEAT_GRACE,
    IDENTIFY_CONCURRENCY,
    SESSION_STARTS_PER_DAY,
    Pace,
)

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
# Opcodes a client may send besides HEARTBEAT, IDENTIFY and RESUME (accepted and ignored).
_OTHER_CLIENT_OPS = {3, 4, 8, 31}
API_VERSIONS = {"9", "10"}


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


class _Closed(Exception):
    """Close the connection with Discord's `code` and `reason`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass
class Connection:
    """One WebSocket: its compression, outbound queue and heartbeat clock."""

    ws: web.WebSocketResponse
    compressor: _Compressor
    last_beat: float
    session: Session | None = None
    # IDENTIFY's `compress: true` without transport compression: each payload is its own
    # zlib stream in a binary frame.
    payload_zlib: bool = False
    received: deque[float] = field(default_factory=deque)  # arrival times, for 4008
    outbox: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[None] | None]] = field(
        default_factory=asyncio.Queue
    )

    def push(self, payload: dict[str, Any], done: asyncio.Future[None] | None = None) -> None:
        self.outbox.put_nowait((payload, done))

    async def write(self) -> None:
        """Send queued payloads in order until the socket closes."""
        while True:
            payload, done = await self.outbox.get()
            try:
                if not self.ws.closed and self.payload_zlib:
                    await self.ws.send_bytes(zlib.compress(json.dumps(payload).encode()))
                elif not self.ws.closed:
                    packed = self.compressor.pack(json.dumps(payload))
                    if isinstance(packed, bytes):
                        await self.ws.send_bytes(packed)
                    else:
                        await self.ws.send_str(packed)
            except (ConnectionError, RuntimeError):
                pass  # the socket went away; RESUME replays dispatches from the session
            finally:
                if done is not None and not done.done():
                    done.set_result(None)

    def release(self) -> None:
        """Resolve every waiter of payloads that will never be written here."""
        while not self.outbox.empty():
            _, done = self.outbox.get_nowait()
            if done is not None and not done.done():
                done.set_result(None)


@dataclass
class Session:
    """A gateway session: survives dropped connections until invalidated."""

    id: str
    intents: int
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)  # dispatches, for RESUME
    connection: Connection | None = None
    resumes: int = 0
    identifies: int = 1

    @property
    def socket(self) -> web.WebSocketResponse | None:
        """The live WebSocket, or None while the client is away."""
        return self.connection.ws if self.connection is not None else None


class Gateway:
    """Serves `/gateway` and dispatches events to the connected bot."""

    def __init__(self, emulator: DiscordEmulator, pace: Pace | None = None) -> None:
        self.emulator = emulator
        self.pace = pace or Pace()
        self.heartbeat_interval_ms = self.pace.heartbeat_interval_ms
        self.sessions: dict[str, Session] = {}
        self.session: Session | None = None  # the current one
        self.ready = asyncio.Event()
        self.connections = 0
        self.closes: list[int] = []  # close codes the gateway sent, in order
        self.missed_heartbeats = 0
        self.worst_heartbeat_gap_s = 0.0  # longest wait between two heartbeats of a client
        self.session_starts_remaining = SESSION_STARTS_PER_DAY
        self._identify_times: deque[float] = deque()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """One WebSocket connection, from HELLO to close."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections += 1
        try:
            compressor = _Compressor(request.query.get("compress"))
            self._check_query(request)
        except ValueError as error:
            await self._close(ws, 4000, str(error))
            return ws
        except _Closed as closed:
            await self._close(ws, closed.code, closed.reason)
            return ws
        conn = Connection(ws, compressor, last_beat=time.monotonic())
        conn.push({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        writer = asyncio.create_task(conn.write(), name="emulator-gateway-writer")
        watchdog = asyncio.create_task(self._watch_heartbeats(conn), name="emulator-heartbeat")
        try:
            async for message in ws:
                # Discord takes JSON payloads in text and in binary frames alike.
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    await self._receive(conn, message.data)
                except _Closed as closed:
                    await self._close(ws, closed.code, closed.reason)
                    break
        finally:
            watchdog.cancel()
            # Let queued payloads go out before the writer stops (a close frame follows them).
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drain(conn), timeout=1)
            writer.cancel()
            conn.release()
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
        return ws

    @staticmethod
    async def _drain(conn: Connection) -> None:
        while not conn.outbox.empty() and not conn.ws.closed:
            await asyncio.sleep(0.005)

    def _check_query(self, request: web.Request) -> None:
        version = request.query.get("v")
        if version is not None and version not in API_VERSIONS:
            raise _Closed(4012, "Invalid API version.")
        encoding = request.query.get("encoding", "json")
        if encoding != "json":
            raise ValueError("the emulator speaks only encoding=json")

    async def _close(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        self.closes.append(code)
        await ws.close(code=code, message=reason.encode())

    async def _receive(self, conn: Connection, raw: str | bytes) -> None:
        now = time.monotonic()
        conn.received.append(now)
        while conn.received and conn.received[0] < now - self.pace.send_window_s:
            conn.received.popleft()
        if len(conn.received) > GATEWAY_SEND_LIMIT:
            raise _Closed(4008, "Rate limited.")
        try:
            payload = json.loads(raw)
            op, data = payload["op"], payload.get("d")
        except (ValueError, TypeError, KeyError):
            raise _Closed(4002, "Error while decoding payload.") from None
        if isinstance(op, bool) or not isinstance(op, int):
            raise _Closed(4002, "Error while decoding payload.")
        if op == HEARTBEAT:
            if data is not None and (isinstance(data, bool) or not isinstance(data, int)):
                raise _Closed(4002, "Error while decoding payload.")
            self.worst_heartbeat_gap_s = max(self.worst_heartbeat_gap_s, now - conn.last_beat)
            conn.last_beat = now
            conn.push({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            self._identify(conn, data)
        elif op == RESUME:
            self._resume(conn, data)
        elif op in _OTHER_CLIENT_OPS:
            if conn.session is None:
                raise _Closed(4003, "Not authenticated.")
            # Presence, voice state, member and soundboard requests: accepted and ignored.
        else:
            raise _Closed(4001, "Unknown opcode.")

    def _identify(self, conn: Connection, data: Any) -> None:
        if conn.session is not None:
            raise _Closed(4005, "Already authenticated.")
        if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
            raise _Closed(4002, "Error while decoding payload.")
        if data.get("token") != self.emulator.token:
            raise _Closed(4004, "Authentication failed.")
        problem = intents.identify_problem(data.get("intents"), self.emulator.privileged_intents)
        if problem is not None:
            raise _Closed(*problem)
        shard = data.get("shard", [0, 1])
        if (
            not isinstance(shard, list)
            or len(shard) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
            or not 0 <= shard[0] < shard[1]
        ):
            raise _Closed(4010, "Invalid shard.")
        now = time.monotonic()
        window = self.pace.identify_window_s
        while self._identify_times and self._identify_times[0] < now - window:
            self._identify_times.popleft()
        if len(self._identify_times) >= IDENTIFY_CONCURRENCY:
            conn.push({"op": INVALID_SESSION, "d": False})
            return
        if self.session_starts_remaining <= 0:
            # Discord resets the token of an app that exhausts its daily session starts.
            raise _Closed(4004, "Authentication failed.")
        self._identify_times.append(now)
        self.session_starts_remaining -= 1
        conn.payload_zlib = data.get("compress") is True and conn.compressor.kind is None
        session = Session(id=secrets.token_hex(16), intents=data["intents"])
        session.connection, conn.session = conn, session
        self.sessions[session.id] = session
        self.session = session
        self._dispatch_to(session, "READY", self.emulator.ready_payload(session.id))
        for guild in self.emulator.guilds():
            self._dispatch_to(session, "GUILD_CREATE", guild.payload())
        self.ready.set()

    def _resume(self, conn: Connection, data: Any) -> None:
        if conn.session is not None:
            raise _Closed(4005, "Already authenticated.")
        if not isinstance(data, dict):
            raise _Closed(4002, "Error while decoding payload.")
        if data.get("token") != self.emulator.token:
            raise _Closed(4004, "Authentication failed.")
        known = self.sessions.get(str(data.get("session_id", "")))
        if known is None:
            conn.push({"op": INVALID_SESSION, "d": False})
            return
        seq = data.get("seq")
        if seq is not None and (not isinstance(seq, int) or not 0 <= seq <= known.seq):
            raise _Closed(4007, "Invalid seq.")
        if known.connection is not None and known.connection is not conn:
            old = known.connection
            old.session = None  # the old socket no longer speaks for the session
            asyncio.ensure_future(old.ws.close(code=4000, message=b"resumed elsewhere"))
        known.connection, conn.session = conn, known
        known.resumes += 1
        self.session = known
        for dispatch in known.sent:
            if dispatch["s"] > int(seq or 0):
                conn.push(dispatch)
        self._dispatch_to(known, "RESUMED", {})

    async def _watch_heartbeats(self, conn: Connection) -> None:
        """Close the connection when a heartbeat is overdue, as Discord does."""
        allowed = self.heartbeat_interval_ms / 1000 * HEARTBEAT_GRACE
        while not conn.ws.closed:
            overdue_at = conn.last_beat + allowed
            await asyncio.sleep(max(0.0, overdue_at - time.monotonic()) + 0.001)
            late = time.monotonic() - conn.last_beat
            if late >= allowed and not conn.ws.closed:
                self.missed_heartbeats += 1
                self.emulator.record_violation(
                    "gateway",
                    "heartbeat",
                    f"no heartbeat for {late:.2f} s (interval "
                    f"{self.heartbeat_interval_ms} ms): a blocked event loop?",
                )
                await self._close(conn.ws, 4000, "Heartbeat missed.")
                return

    def _dispatch_to(
        self, session: Session, event: str, data: dict[str, Any]
    ) -> asyncio.Future[None] | None:
        """Queue `event` for the session (dropped if its intents exclude it); the future
        resolves once it is written (or the connection is gone)."""
        if not intents.receives(session.intents, event):
            return None
        data = intents.shape_dispatch(
            session.intents, event, data, str(self.emulator.application_id)
        )
        for problem in contract.check_dispatch(event, data):
            self.emulator.record_violation(f"dispatch {event}", "emulator_dispatch", problem)
        session.seq += 1
        payload = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.sent.append(payload)
        if session.connection is None:
            return None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        session.connection.push(payload, done)
        return done

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the bot; kept for replay if the bot is briefly disconnected."""
        if self.session is None:
            raise RuntimeError("no bot has identified with the gateway")
        done = self._dispatch_to(self.session, event, data)
        if done is not None:
            await done

    def dispatch_soon(self, event: str, data: dict[str, Any]) -> None:
        """Queue an event without waiting (from synchronous code); no-op with no session."""
        if self.session is not None:
            self._dispatch_to(self.session, event, data)

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the socket as a network failure would; the session stays resumable."""
        session = self.session
        if session is not None and session.connection is not None:
            connection, session.connection = session.connection, None
            await connection.ws.close(code=code, message=b"dropped by the emulator")

    async def invalidate_session(self) -> None:
        """Tell the bot its session is gone: it must IDENTIFY again."""
        session = self.session
        if session is None:
            return
        self.sessions.pop(session.id, None)
        if session.connection is not None:
            session.connection.push({"op": INVALID_SESSION, "d": False})
            session.connection.session = None

    async def close_all(self) -> None:
        """Close the current connection (emulator shutdown)."""
        if self.session is not None and self.session.socket is not None:
            await self.session.socket.close()
