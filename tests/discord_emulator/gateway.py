"""The gateway websocket: HELLO, IDENTIFY/READY, GUILD_CREATE, heartbeats, RESUME, dispatches.

Frames are JSON; with ``compress=zlib-stream`` every frame the server sends is
a piece of one zlib stream per connection, flushed with Z_SYNC_FLUSH, as
Discord does.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tests.discord_emulator.world import PRIVILEGED_INTENTS

if TYPE_CHECKING:
    from tests.discord_emulator.server import DiscordEmulator

__all__ = ["GatewayConnection", "Session", "handle_gateway"]

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


@dataclass
class GatewayConnection:
    ws: web.WebSocketResponse
    compress: bool
    compressor: Any = field(default_factory=zlib.compressobj)
    session: Session | None = None
    received: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        if self.compress:
            await self.ws.send_bytes(
                self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
            )
        else:
            await self.ws.send_str(text)


@dataclass
class Session:
    id: str
    identify: dict[str, Any]
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)  # every dispatch sent, for RESUME
    connection: GatewayConnection | None = None

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": self.seq, "d": data}
        self.events.append(frame)
        if self.connection is not None and not self.connection.ws.closed:
            await self.connection.send(frame)


async def handle_gateway(emulator: DiscordEmulator, request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
    await ws.prepare(request)
    query = request.rel_url.query
    compress = query.get("compress")
    conn = GatewayConnection(ws, compress == "zlib-stream")
    emulator.gateway_connections.append(conn)
    emulator.notify()
    if query.get("v") != "10":
        await ws.close(code=4012, message=b"Invalid API version")
        return ws
    if query.get("encoding", "json") != "json" or compress not in (None, "zlib-stream"):
        await ws.close(code=4000, message=b"Unsupported encoding or compression")
        return ws
    await conn.send(
        {"op": HELLO, "d": {"heartbeat_interval": emulator.heartbeat_interval_ms}, "s": None, "t": None}
    )
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                await ws.close(code=4002, message=b"Decode error")
                break
            try:
                payload = json.loads(msg.data)
            except ValueError:
                await ws.close(code=4002, message=b"Decode error")
                break
            conn.received.append(payload)
            emulator.notify()
            await _on_frame(emulator, conn, payload)
    finally:
        if conn.session is not None and conn.session.connection is conn:
            conn.session.connection = None
        emulator.notify()
    return ws


async def _on_frame(emulator: DiscordEmulator, conn: GatewayConnection, payload: dict[str, Any]) -> None:
    op, data = payload.get("op"), payload.get("d")
    if op == HEARTBEAT:
        emulator.heartbeats += 1
        await conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
    elif op == IDENTIFY:
        await _identify(emulator, conn, data or {})
    elif op == RESUME:
        await _resume(emulator, conn, data or {})
    elif conn.session is None:
        await conn.ws.close(code=4003, message=b"Not authenticated")
    elif op not in (3, 4, 8):  # presence, voice state, request members: accepted, ignored
        await conn.ws.close(code=4001, message=b"Unknown opcode")


async def _identify(emulator: DiscordEmulator, conn: GatewayConnection, data: dict[str, Any]) -> None:
    world = emulator.world
    if conn.session is not None:
        await conn.ws.close(code=4005, message=b"Already authenticated")
        return
    if data.get("token") != world.token:
        await conn.ws.close(code=4004, message=b"Authentication failed")
        return
    intents = int(data.get("intents", 0))
    if intents & PRIVILEGED_INTENTS & ~world.allowed_intents:
        await conn.ws.close(code=4014, message=b"Disallowed intent(s)")
        return
    session = Session(secrets.token_hex(16), identify=data, connection=conn)
    conn.session = session
    emulator.sessions[session.id] = session
    await session.dispatch(
        "READY",
        {
            "v": 10,
            "user": world.bot.user(),
            "guilds": [{"id": str(world.guild.id), "unavailable": True}],
            "session_id": session.id,
            "resume_gateway_url": emulator.gateway_url,
            "application": {"id": str(world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        },
    )
    await asyncio.sleep(0)  # READY and GUILD_CREATE arrive as separate frames, as on Discord
    await session.dispatch("GUILD_CREATE", world.guild.payload(world.bot))
    emulator.notify()


async def _resume(emulator: DiscordEmulator, conn: GatewayConnection, data: dict[str, Any]) -> None:
    session = emulator.sessions.get(str(data.get("session_id")))
    if data.get("token") != emulator.world.token or session is None:
        await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
        return
    emulator.resumes.append(dict(data))
    if session.connection is not None and session.connection is not conn:
        await session.connection.ws.close(code=4000)
    session.connection = conn
    conn.session = session
    seq = int(data.get("seq") or 0)
    for frame in session.events:
        if frame["s"] > seq:
            await conn.send(frame)
    await session.dispatch("RESUMED", {})
    emulator.notify()
