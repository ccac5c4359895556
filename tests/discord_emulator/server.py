"""A Discord-compatible server on 127.0.0.1 that discord.py talks to unmodified.

It serves the REST routes the bot uses and the gateway websocket, records
every request so tests assert on the real payloads, and can be told to
misbehave: answer the next requests with 5xx or 429 + Retry-After, drop the
connection, or drop the gateway. Like Discord, it deduplicates messages that
carry ``enforce_nonce``, forgets interactions not acknowledged within 3 s,
and refuses a second acknowledgement.

It keeps Discord's documented limits (API reference: Message resource, Embed
limits; Channel resource, Crosspost Message and Start Thread from Message;
Rate Limits topic): 2,000 characters of content, at most 10 embeds and their
6,000-character total with each field's own limit, answered 400 with code
50035 and the ``errors`` tree Discord gives; 10 crossposts per channel per hour,
answered 429 with ``Retry-After`` and the ``X-RateLimit-*`` headers; message
creation in a per-channel bucket whose headers discord.py follows; one thread
per message (its id is the message's), a second start answered 160004.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from aiohttp import web

from tests.discord_emulator.gateway import GatewayConnection, Session, handle_gateway
from tests.discord_emulator.world import Channel, Member, World, iso_now

__all__ = ["DiscordEmulator", "InteractionRecord", "RecordedFile", "RecordedRequest", "StoredMessage"]

API = "/api/v10"
EPHEMERAL = 1 << 6
LOADING = 1 << 7
CROSSPOSTED = 1 << 0
_LOST = -1  # a fault "status": handle the request, then drop the connection
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


@dataclass
class RecordedFile:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    files: list[RecordedFile]
    at: float
    status: int = 0  # what the emulator answered (0: dropped)


_RECORDED = web.RequestKey("recorded", RecordedRequest)


@dataclass
class StoredMessage:
    payload: dict[str, Any]  # the message object Discord would return
    request: RecordedRequest  # what the bot sent to create it
    files: list[RecordedFile]

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def content(self) -> str:
        return str(self.payload["content"])


@dataclass
class _Fault:
    remaining: int
    status: int | None  # None: drop the connection
    retry_after: float | None
    method: str | None
    path: re.Pattern[str] | None
    skip: int = 0  # matching requests let through first

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path.search(path) is not None
        )


@dataclass
class InteractionRecord:
    """One slash command a person ran, and everything the bot answered to it."""

    id: int
    token: str
    command: str
    payload: dict[str, Any]
    created_at: float
    callback: dict[str, Any] | None = None  # the acknowledgement: {"type": 4|5, "data": ...}
    callback_delay: float | None = None
    original: dict[str, Any] | None = None  # the original response message
    followups: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, list[RecordedFile]] = field(default_factory=dict)  # message id -> attachments sent
    rejected: list[str] = field(default_factory=list)  # why Discord refused a callback or follow-up
    bodies: list[dict[str, Any]] = field(default_factory=list)  # message bodies the bot sent, in order

    @property
    def callback_type(self) -> int | None:
        return None if self.callback is None else int(self.callback["type"])

    @property
    def messages(self) -> list[dict[str, Any]]:
        """What the person sees, in order: the original response (once not loading), then follow-ups."""
        shown = [self.original] if self.original and not int(self.original["flags"]) & LOADING else []
        return shown + self.followups

    @property
    def text(self) -> str:
        return "\n\n".join(str(m["content"]) for m in self.messages)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py compares the header, a charset suffix makes it text.
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return _json(body, status)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None


class DiscordEmulator:
    """Start with ``await start()``; point the bot at :attr:`api_base` and :attr:`gateway_url`."""

    def __init__(self, world: World | None = None) -> None:
        self.world = world or World()
        self.requests: list[RecordedRequest] = []
        self.messages: dict[int, list[StoredMessage]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None: global) -> commands
        self.interactions: dict[int, InteractionRecord] = {}
        self.sessions: dict[str, Session] = {}
        self.gateway_connections: list[GatewayConnection] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.heartbeat_interval_ms = 41_250
        self.interaction_deadline = 3.0
        self.nonce_window = 300.0
        # Crossposts: Discord allows 10 per channel per hour ("publish" in the client).
        self.crosspost_limit = 10
        self.crosspost_window = 3600.0
        self.crossposts: dict[int, list[float]] = {}  # channel id -> when each crosspost was made
        # Message creation: a per-channel bucket (Discord does not document its size; 5 per 5 s is
        # what it answers today; the emulator keeps the headers' shape and a short window).
        self.message_bucket_limit = 5
        self.message_bucket_window = 0.25
        self._message_buckets: dict[int, list[float]] = {}
        self.clock_offset = 0.0  # tests move the emulator's clock forward (an hour later...)
        self._faults: list[_Fault] = []
        self._tick = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API + "/{tail:.*}", self._route)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        for conn in self.gateway_connections:
            if not conn.ws.closed:
                await conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # --- test controls --------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        retry_after: float | None = None,
        method: str | None = None,
        path: str | None = None,
        skip: int = 0,
    ) -> None:
        """Answer the next ``count`` matching REST requests with ``status`` (429: with Retry-After).

        ``skip`` lets that many matching requests through first (fail the second part of a post).
        """
        self._faults.append(
            _Fault(count, status, retry_after, method, re.compile(path) if path else None, skip)
        )

    def drop_next(self, count: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """Close the connection instead of answering the next ``count`` matching REST requests."""
        self._faults.append(_Fault(count, None, None, method, re.compile(path) if path else None))

    def lose_next_answer(self, count: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """Handle the next ``count`` matching requests, then drop the connection before answering.

        The message is posted but the bot never hears so: what a crash or a
        timeout between "sent" and "recorded as sent" looks like.
        """
        self._faults.append(_Fault(count, _LOST, None, method, re.compile(path) if path else None))

    async def drop_gateway(self, code: int = 4000) -> None:
        """Close every gateway connection with ``code`` (4000: resumable, as after a network hiccup)."""
        for conn in self.gateway_connections:
            if not conn.ws.closed:
                await conn.ws.close(code=code)

    def notify(self) -> None:
        """Wake every :meth:`until` waiter to check its condition again."""
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def until(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until ``predicate()`` holds (checked after every request and gateway frame)."""
        async with asyncio.timeout(within):
            while not predicate():
                await self._tick.wait()

    def now(self) -> float:
        """The emulator's clock (the event loop's, moved by :attr:`clock_offset`)."""
        return asyncio.get_running_loop().time() + self.clock_offset

    def threads_of(self, channel_id: int) -> list[Any]:
        """The threads started in a channel."""
        return [t for t in self.world.threads if t.parent_id == channel_id]

    def sent(self, channel_id: int) -> list[StoredMessage]:
        return list(self.messages.get(channel_id, []))

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        pattern = re.compile(path)
        return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    @property
    def ready_sessions(self) -> list[Session]:
        return list(self.sessions.values())

    async def interact(
        self,
        command: str,
        options: dict[str, str] | None = None,
        *,
        user: Member | None = None,
        locale: str = "en-US",
        channel_id: int | None = None,
        in_dm: bool = False,
    ) -> InteractionRecord:
        """Someone runs ``/command`` (``"news post"``): send INTERACTION_CREATE to the bot's session.

        The command must have been synced; its options are built from the synced schema.
        """
        world = self.world
        user = user or world.member
        top, _, sub = command.partition(" ")
        guild_id = None if in_dm else world.guild.id
        schema = self._find_command(top, guild_id)
        values = dict(options or {})
        data: dict[str, Any] = {"id": schema["id"], "name": top, "type": 1}
        if schema.get("guild_id"):
            data["guild_id"] = schema["guild_id"]
        params = schema.get("options", [])
        if sub:
            group = next(o for o in params if o["name"] == sub and o["type"] == 1)
            data["options"] = [{"type": 1, "name": sub, "options": _option_values(group, values)}]
        else:
            data["options"] = _option_values(schema, values)
        session = next((s for s in self.sessions.values() if s.connection is not None), None)
        if session is None:
            raise AssertionError("the bot has no gateway session to receive the interaction")
        record = InteractionRecord(world.ids.next(), f"itoken-{world.ids.next()}", command, {}, 0.0)
        channel = world.channel(channel_id or world.general.id)
        payload: dict[str, Any] = {
            "id": str(record.id),
            "application_id": str(world.application_id),
            "type": 2,
            "data": data,
            "token": record.token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(world.bot.permissions),
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if in_dm:
            payload["user"] = user.user()
            payload["channel_id"] = str(world.ids.next())
            payload["channel"] = {"id": payload["channel_id"], "type": 1, "recipients": [user.user()]}
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"1": str(user.id)}
        else:
            assert channel is not None, "unknown channel"
            payload["guild_id"] = str(world.guild.id)
            payload["guild"] = {
                "id": str(world.guild.id),
                "locale": world.guild.preferred_locale,
                "features": [],
            }
            payload["guild_locale"] = world.guild.preferred_locale
            payload["channel_id"] = str(channel.id)
            payload["channel"] = channel.payload()
            payload["member"] = user.payload(with_permissions=True)
            payload["context"] = 0
            payload["authorizing_integration_owners"] = {"0": str(world.guild.id)}
        record.payload = payload
        record.created_at = asyncio.get_running_loop().time()
        self.interactions[record.id] = record
        await session.dispatch("INTERACTION_CREATE", payload)
        return record

    def _find_command(self, name: str, guild_id: int | None) -> dict[str, Any]:
        for scope in ([guild_id] if guild_id else []) + [None]:
            for command in self.commands.get(scope, []):
                if command["name"] == name:
                    return command
        raise AssertionError(f"/{name} was never synced, Discord would not offer it")

    # --- HTTP plumbing --------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)  # type: ignore[no-any-return]
        record = await self._record(request)
        request[_RECORDED] = record
        try:
            fault = next(
                (f for f in self._faults if f.remaining > 0 and f.matches(record.method, record.path)), None
            )
            if fault is not None and fault.skip > 0:
                fault.skip -= 1
                fault = None
            if fault is not None:
                fault.remaining -= 1
                if fault.status == _LOST:
                    record.status = (await handler(request)).status
                if fault.status in (None, _LOST):
                    assert request.transport is not None
                    request.transport.abort()
                    raise asyncio.CancelledError  # the answer is never written: the peer sees a dropped connection
                answer = self._fault_response(fault)
                record.status = answer.status
                return answer
            response: web.StreamResponse = await handler(request)
            record.status = response.status
            return response
        finally:
            self.notify()

    def _fault_response(self, fault: _Fault) -> web.Response:
        assert fault.status is not None
        if fault.status == 429:
            retry_after = fault.retry_after if fault.retry_after is not None else 1.0
            return _json(
                {
                    "message": "You are being rate limited.",
                    "retry_after": retry_after,
                    "global": False,
                    "code": 0,
                },
                429,
                {
                    "Retry-After": str(math.ceil(retry_after)),
                    "Via": "1.1 google",
                    "X-RateLimit-Scope": "user",
                },
            )
        if fault.status >= 500:
            return _json({"message": "Internal Server Error", "code": 0}, fault.status)
        return _error(fault.status, 0, f"{fault.status}: emulated error")

    async def _record(self, request: web.Request) -> RecordedRequest:
        body = await request.read()
        content_type = request.headers.get("Content-Type", "")
        payload: Any = None
        files: list[RecordedFile] = []
        if content_type.startswith("application/json") and body:
            payload = json.loads(body)
        elif content_type.startswith("multipart/form-data"):
            payload, files = _parse_multipart(content_type, body)
        record = RecordedRequest(
            method=request.method,
            path=request.path.removeprefix(API),
            query=dict(request.rel_url.query),
            headers=dict(request.headers),
            json=payload,
            files=files,
            at=asyncio.get_running_loop().time(),
        )
        self.requests.append(record)
        return record

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        return await handle_gateway(self, request)

    async def _route(self, request: web.Request) -> web.StreamResponse:
        record = request[_RECORDED]
        method, path = record.method, record.path
        for route_method, pattern, handler, needs_bot in self._routes():
            match = pattern.fullmatch(path)
            if match and route_method == method:
                if needs_bot and request.headers.get("Authorization") != f"Bot {self.world.token}":
                    return _error(401, 0, "401: Unauthorized")
                return await handler(record, *match.groups())
        return _error(404, 0, "404: Not Found")

    def _routes(self) -> list[tuple[str, re.Pattern[str], Any, bool]]:
        app = str(self.world.application_id)
        table = [
            ("GET", r"/users/@me", self._me, True),
            ("GET", r"/oauth2/applications/@me", self._application, True),
            ("GET", r"/gateway/bot", self._gateway_bot, True),
            ("GET", rf"/applications/{app}/commands", self._get_commands, True),
            ("PUT", rf"/applications/{app}/commands", self._put_commands, True),
            ("GET", rf"/applications/{app}/guilds/(\d+)/commands", self._get_commands, True),
            ("PUT", rf"/applications/{app}/guilds/(\d+)/commands", self._put_commands, True),
            ("GET", r"/channels/(\d+)", self._get_channel, True),
            ("POST", r"/channels/(\d+)/messages", self._create_message, True),
            ("POST", r"/channels/(\d+)/messages/(\d+)/crosspost", self._crosspost, True),
            ("POST", r"/channels/(\d+)/messages/(\d+)/threads", self._start_thread, True),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", self._interaction_callback, False),
            ("POST", rf"/webhooks/{app}/([^/]+)", self._followup, False),
            ("POST", r"/webhooks/(\d+)/([^/]+)", self._execute_webhook, False),
            ("GET", rf"/webhooks/{app}/([^/]+)/messages/@original", self._get_original, False),
            ("PATCH", rf"/webhooks/{app}/([^/]+)/messages/@original", self._edit_original, False),
        ]
        return [(m, re.compile(p), h, auth) for m, p, h, auth in table]

    # --- REST: identity -------------------------------------------------------------------

    async def _me(self, record: RecordedRequest) -> web.Response:
        return _json(self.world.bot.user())

    async def _application(self, record: RecordedRequest) -> web.Response:
        return _json(self.world.application())

    async def _gateway_bot(self, record: RecordedRequest) -> web.Response:
        limits = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limits})

    # --- REST: application commands -------------------------------------------------------

    async def _get_commands(self, record: RecordedRequest, guild: str | None = None) -> web.Response:
        return _json(self.commands.get(int(guild) if guild else None, []))

    async def _put_commands(self, record: RecordedRequest, guild: str | None = None) -> web.Response:
        guild_id = int(guild) if guild else None
        if guild_id is not None and guild_id != self.world.guild.id:
            return _error(403, 50001, "Missing Access")
        problems = [p for command in record.json or [] for p in _command_problems(command)]
        if problems:
            return _error(400, 50035, "Invalid Form Body", {"_errors": [{"message": p} for p in problems]})
        stored = []
        for command in record.json:
            item = {
                "id": str(self.world.ids.next()),
                "application_id": str(self.world.application_id),
                "version": str(self.world.ids.next()),
                "type": command.get("type", 1),
                "default_member_permissions": command.get("default_member_permissions"),
                "nsfw": bool(command.get("nsfw", False)),
                "contexts": command.get("contexts"),
                "integration_types": command.get("integration_types", [0]),
                "name_localizations": command.get("name_localizations"),
                "description_localizations": command.get("description_localizations"),
                **{k: v for k, v in command.items() if k in ("name", "description", "options")},
            }
            if guild_id is not None:
                item["guild_id"] = str(guild_id)
            stored.append(item)
        self.commands[guild_id] = stored
        return _json(stored)

    # --- REST: channels and messages ------------------------------------------------------

    async def _get_channel(self, record: RecordedRequest, channel_id: str) -> web.Response:
        channel = self.world.channel(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        if not channel.bot_can_view:
            return _error(403, 50001, "Missing Access")
        return _json(channel.payload())

    async def _create_message(self, record: RecordedRequest, channel_id: str) -> web.Response:
        channel = self.world.channel(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        if not channel.bot_can_view:
            return _error(403, 50001, "Missing Access")
        if not channel.bot_can_send:
            return _error(403, 50013, "Missing Permissions")
        body = record.json or {}
        problem = _message_problem(body, record.files)
        if problem:
            return problem
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            now = record.at
            for earlier in self.messages.get(channel.id, []):
                if earlier.payload.get("nonce") == nonce and now - earlier.request.at <= self.nonce_window:
                    return _json(earlier.payload)  # Discord answers with the first message, posts nothing
        limited, headers = self._take(
            self._message_buckets,
            channel.id,
            self.message_bucket_limit,
            self.message_bucket_window,
            f"messages-{channel.id}",
        )
        if limited:
            return _rate_limited(headers)
        payload = self._message(body, record.files, channel_id=channel.id)
        self.messages.setdefault(channel.id, []).append(StoredMessage(payload, record, record.files))
        return _json(payload, headers=headers)

    def _take(
        self, buckets: dict[int, list[float]], key: int, limit: int, window: float, bucket: str
    ) -> tuple[bool, dict[str, str]]:
        """Count one request in a sliding-window bucket: (refused, the X-RateLimit headers to send)."""
        now = self.now()
        times = buckets.setdefault(key, [])
        times[:] = [t for t in times if now - t < window]
        if len(times) >= limit:
            reset_after = window - (now - times[0])
            return True, _limit_headers(limit, 0, reset_after, bucket)
        times.append(now)
        reset_after = window - (now - times[0])
        return False, _limit_headers(limit, limit - len(times), reset_after, bucket)

    async def _crosspost(self, record: RecordedRequest, channel_id: str, message_id: str) -> web.Response:
        channel = self.world.channel(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        stored = next((m for m in self.sent(channel.id) if m.id == int(message_id)), None)
        if stored is None:
            return _error(404, 10008, "Unknown Message")
        if channel.type != 5:
            return _error(400, 50024, "Cannot execute action on this channel type")
        if stored.payload["flags"] & CROSSPOSTED:
            return _error(400, 40033, "This message has already been crossposted.")
        limited, headers = self._take(
            self.crossposts, channel.id, self.crosspost_limit, self.crosspost_window, "crosspost"
        )
        if limited:
            return _rate_limited(headers)
        stored.payload["flags"] |= CROSSPOSTED
        return _json(stored.payload, headers=headers)

    async def _start_thread(self, record: RecordedRequest, channel_id: str, message_id: str) -> web.Response:
        channel = self.world.channel(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        if not channel.bot_can_view:
            return _error(403, 50001, "Missing Access")
        stored = next((m for m in self.sent(channel.id) if m.id == int(message_id)), None)
        if stored is None:
            return _error(404, 10008, "Unknown Message")
        if channel.type not in (0, 5):
            return _error(400, 50024, "Cannot execute action on this channel type")
        if not channel.bot_can_thread:
            return _error(403, 50013, "Missing Permissions")
        name = str((record.json or {}).get("name") or "")
        if not 1 <= len(name) <= 100:
            return _error(400, 50035, "Invalid Form Body", {"name": _too_long(100) if name else _required()})
        if self.world.channel(stored.id) is not None:
            return _error(400, 160004, "A thread has already been created for this message")
        thread = Channel(
            stored.id, channel.guild_id, name, type=10 if channel.type == 5 else 11,
            parent_id=channel.id, owner_id=self.world.bot.id,
        )  # fmt: skip
        self.world.threads.append(thread)
        stored.payload["thread"] = thread.payload()
        return _json(thread.payload(), 201)

    def _message(
        self,
        body: dict[str, Any],
        files: list[RecordedFile],
        *,
        channel_id: int,
        author: dict[str, Any] | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        content = str(body.get("content") or "")
        users, roles, everyone = _pings(content, body.get("allowed_mentions"))
        attachments = []
        declared = {str(a.get("id")): a for a in body.get("attachments", []) or []}
        for index, file in enumerate(files):
            meta = declared.get(str(index), {})
            size = _png_size(file.data)
            attachment_id = self.world.ids.next()
            url = f"http://127.0.0.1:{self.port}/attachments/{channel_id}/{attachment_id}/{file.filename}"
            attachments.append(
                {
                    "id": str(attachment_id),
                    "filename": file.filename,
                    "description": meta.get("description"),
                    "content_type": "image/png" if size else file.content_type,
                    "size": len(file.data),
                    "url": url,
                    "proxy_url": url,
                    "width": size[0] if size else None,
                    "height": size[1] if size else None,
                }
            )
        people = [p.user() for u in users if (p := self.world.person(u)) is not None]
        return {
            "id": str(self.world.ids.next()),
            "channel_id": str(channel_id),
            "author": author or self.world.bot.user(),
            "content": content,
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": people,
            "mention_roles": [str(r) for r in roles],
            "attachments": attachments,
            "embeds": body.get("embeds", []) or [],
            "pinned": False,
            "type": 0,
            "flags": flags | (int(body.get("flags") or 0) & EPHEMERAL),
            "nonce": body.get("nonce"),
            "components": [],
        }

    # --- REST: channel webhooks (Webhook resource, Execute Webhook) ------------------------

    def webhook_url(self, channel: Channel) -> str:
        """A new webhook of ``channel``, as the URL Discord's settings copy."""
        webhook_id, token = self.world.add_webhook(channel)
        return f"{self.api_base}/webhooks/{webhook_id}/{token}"

    async def _execute_webhook(self, record: RecordedRequest, webhook_id: str, token: str) -> web.Response:
        hook = self.world.webhooks.get(int(webhook_id))
        if hook is None:
            return _error(404, 10015, "Unknown Webhook")
        if hook[0] != token:
            return _error(401, 50027, "Invalid Webhook Token")
        channel = self.world.channel(hook[1])
        assert channel is not None
        body = record.json or {}
        problem = _message_problem(body, record.files)
        if problem:
            return problem
        thread_id = record.query.get("thread_id")
        thread_name = body.get("thread_name")
        where = channel
        if thread_id:
            thread = self.world.channel(int(thread_id))
            if thread is None or thread.parent_id != channel.id:
                return _error(400, 10003, "Unknown Channel")
            where = thread
        elif thread_name:
            if channel.type not in (15, 16):
                return _error(400, 220003, "Webhooks can only create threads in forum channels")
            if not 1 <= len(str(thread_name)) <= 100:
                return _error(400, 50035, "Invalid Form Body", {"thread_name": _too_long(100)})
            where = Channel(self.world.ids.next(), channel.guild_id, str(thread_name), type=11,
                            parent_id=channel.id, owner_id=int(webhook_id))  # fmt: skip
            self.world.threads.append(where)
        elif channel.type in (15, 16):
            return _error(
                400, 220001, "Webhooks posted to forum channels must have a thread_name or thread_id"
            )
        limited, headers = self._take(self._message_buckets, int(webhook_id), self.message_bucket_limit,
                                      self.message_bucket_window, f"webhook-{webhook_id}")  # fmt: skip
        if limited:
            return _rate_limited(headers)
        author = {
            "id": webhook_id,
            "username": "Donor News",
            "avatar": None,
            "discriminator": "0000",
            "bot": True,
        }
        payload = self._message(body, record.files, channel_id=where.id, author=author)
        payload["webhook_id"] = webhook_id
        self.messages.setdefault(where.id, []).append(StoredMessage(payload, record, record.files))
        if record.query.get("wait") in ("1", "true", "True"):
            return _json(payload, headers=headers)
        return web.Response(status=204, headers=headers)

    # --- REST: interactions ---------------------------------------------------------------

    def _interaction(self, interaction_id: int, token: str) -> InteractionRecord | None:
        record = self.interactions.get(interaction_id)
        return record if record is not None and record.token == token else None

    async def _interaction_callback(
        self, record: RecordedRequest, interaction_id: str, token: str
    ) -> web.Response:
        interaction = self._interaction(int(interaction_id), token)
        if interaction is None:
            return _error(404, 10062, "Unknown interaction")
        delay = record.at - interaction.created_at
        if delay > self.interaction_deadline:
            interaction.rejected.append(f"acknowledged after {delay:.2f} s")
            return _error(404, 10062, "Unknown interaction")
        if interaction.callback is not None:
            interaction.rejected.append("acknowledged twice")
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body = record.json or {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        if kind == 4:
            problem = _message_problem(data, record.files)
            if problem:
                return problem
            message = self._message(data, record.files, channel_id=int(interaction.payload["channel_id"]))
        elif kind == 5:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            message = self._message({}, [], channel_id=int(interaction.payload["channel_id"]), flags=flags)
        else:
            return _error(
                400, 50035, "Invalid Form Body", {"type": {"_errors": [{"message": f"type {kind}"}]}}
            )
        person = interaction.payload.get("member", {}).get("user") or interaction.payload.get("user")
        message["interaction_metadata"] = {
            "id": str(interaction.id),
            "type": 2,
            "user": person,
            "authorizing_integration_owners": interaction.payload["authorizing_integration_owners"],
        }
        interaction.bodies.append(data)
        interaction.callback = body
        interaction.callback_delay = delay
        interaction.original = message
        interaction.files[message["id"]] = record.files
        answer = {
            "interaction": {
                "id": str(interaction.id),
                "type": 2,
                "response_message_id": message["id"],
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message["flags"] & EPHEMERAL),
            },
            "resource": {"type": kind, "message": message},
        }
        if record.query.get("with_response") in ("1", "true", "True"):
            return _json(answer)
        return web.Response(status=204)

    async def _followup(self, record: RecordedRequest, token: str) -> web.Response:
        interaction = next((i for i in self.interactions.values() if i.token == token), None)
        if interaction is None or interaction.original is None:
            return _error(404, 10015, "Unknown Webhook")
        body = record.json or {}
        problem = _message_problem(body, record.files)
        if problem:
            interaction.rejected.append(f"follow-up refused: {problem.text}")
            return problem
        interaction.bodies.append(body)
        channel_id = int(interaction.payload["channel_id"])
        original = interaction.original
        if original["flags"] & LOADING:
            # The first follow-up after a deferral replaces the "thinking..." message.
            message = self._message(
                body, record.files, channel_id=channel_id, flags=original["flags"] & EPHEMERAL
            )
            message["id"] = original["id"]
            interaction.original = message
        else:
            message = self._message(body, record.files, channel_id=channel_id)
            interaction.followups.append(message)
        interaction.files[message["id"]] = record.files
        if record.query.get("wait") in ("1", "true", "True"):
            return _json(message)
        return web.Response(status=204)

    async def _get_original(self, record: RecordedRequest, token: str) -> web.Response:
        interaction = next((i for i in self.interactions.values() if i.token == token), None)
        if interaction is None or interaction.original is None:
            return _error(404, 10008, "Unknown Message")
        return _json(interaction.original)

    async def _edit_original(self, record: RecordedRequest, token: str) -> web.Response:
        interaction = next((i for i in self.interactions.values() if i.token == token), None)
        if interaction is None or interaction.original is None:
            return _error(404, 10008, "Unknown Message")
        body = record.json or {}
        problem = _message_problem(body, record.files, allow_empty=True)
        if problem:
            return problem
        flags = interaction.original["flags"] & EPHEMERAL
        message = self._message(
            body, record.files, channel_id=int(interaction.payload["channel_id"]), flags=flags
        )
        message["id"] = interaction.original["id"]
        message["edited_timestamp"] = iso_now()
        interaction.original = message
        interaction.files[message["id"]] = record.files
        return _json(message)


# --- validation and parsing helpers ---------------------------------------------------------


def _option_values(schema: dict[str, Any], values: dict[str, str]) -> list[dict[str, Any]]:
    known = {o["name"]: o for o in schema.get("options", []) if o["type"] not in (1, 2)}
    unknown = set(values) - set(known)
    if unknown:
        raise AssertionError(f"/{schema['name']} has no option {sorted(unknown)}; it has {sorted(known)}")
    return [{"type": known[k]["type"], "name": k, "value": v} for k, v in values.items()]


def _command_problems(command: dict[str, Any], depth: int = 0) -> list[str]:
    problems = []
    name = str(command.get("name", ""))
    if not _COMMAND_NAME.match(name) or name != name.lower():
        problems.append(f"bad command name {name!r}")
    description = str(command.get("description", ""))
    if not 1 <= len(description) <= 100:
        problems.append(f"{name}: description must be 1 to 100 characters")
    for locale, local_name in (command.get("name_localizations") or {}).items():
        if not _COMMAND_NAME.match(local_name) or local_name != local_name.lower():
            problems.append(f"{name}: bad {locale} name {local_name!r}")
    for locale, text in (command.get("description_localizations") or {}).items():
        if not 1 <= len(text) <= 100:
            problems.append(f"{name}: {locale} description must be 1 to 100 characters")
    options = command.get("options") or []
    if len(options) > 25:
        problems.append(f"{name}: more than 25 options")
    seen_optional = False
    for option in options:
        if option.get("type") in (1, 2):
            problems.extend(_command_problems(option, depth + 1))
            continue
        if option.get("required"):
            if seen_optional:
                problems.append(f"{name}: required options must come before optional ones")
        else:
            seen_optional = True
        problems.extend(p for p in _command_problems({**option, "options": []}, depth + 1))
    return problems


def _too_long(limit: int) -> dict[str, Any]:
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}]}


def _required() -> dict[str, Any]:
    return {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}


def _limit_headers(limit: int, remaining: int, reset_after: float, bucket: str) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": bucket,
    }


def _rate_limited(headers: dict[str, str]) -> web.Response:
    """A per-route 429 as Discord sends it (Rate Limits topic, "Exceeded User Rate Limit")."""
    retry_after = float(headers["X-RateLimit-Reset-After"])
    return _json(
        {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
        429,
        {
            **headers,
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Scope": "user",
            "Via": "1.1 google",
        },
    )


# Embed limits (Message resource, "Embed Limits"): per field, and 6,000 characters in all.
_EMBED_FIELDS = {"title": 256, "description": 4096}
EMBED_TOTAL = 6000


def _embed_problems(embeds: Any) -> dict[str, Any] | None:
    if not isinstance(embeds, list):
        return None
    if len(embeds) > 10:
        return {"embeds": _too_long(10)}
    errors: dict[str, Any] = {}
    total = 0
    for index, embed in enumerate(embeds):
        problems: dict[str, Any] = {}
        for key, limit in _EMBED_FIELDS.items():
            text = str(embed.get(key) or "")
            total += len(text)
            if len(text) > limit:
                problems[key] = _too_long(limit)
        for key, inner, limit in (("footer", "text", 2048), ("author", "name", 256)):
            text = str((embed.get(key) or {}).get(inner) or "")
            total += len(text)
            if len(text) > limit:
                problems[key] = {inner: _too_long(limit)}
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems["fields"] = _too_long(25)
        for number, item in enumerate(fields[:25]):
            for key, limit in (("name", 256), ("value", 1024)):
                text = str(item.get(key) or "")
                total += len(text)
                if len(text) > limit:
                    problems.setdefault("fields", {}).setdefault(str(number), {})[key] = _too_long(limit)
        if problems:
            errors[str(index)] = problems
    if errors:
        return {"embeds": errors}
    if total > EMBED_TOTAL:
        return {
            "embeds": {
                "_errors": [
                    {"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"}
                ]
            }
        }
    return None


def _message_problem(
    body: dict[str, Any], files: list[RecordedFile], *, allow_empty: bool = False
) -> web.Response | None:
    content = body.get("content")
    if content is not None and len(str(content)) > 2000:
        return _error(400, 50035, "Invalid Form Body", {"content": _too_long(2000)})
    embed_errors = _embed_problems(body.get("embeds"))
    if embed_errors:
        return _error(400, 50035, "Invalid Form Body", embed_errors)
    nonce = body.get("nonce")
    if nonce is not None and len(str(nonce)) > 25:
        return _error(
            400, 50035, "Invalid Form Body", {"nonce": {"_errors": [{"message": "Nonce too long"}]}}
        )
    mentions = body.get("allowed_mentions")
    if mentions is not None:
        parse = mentions.get("parse", [])
        for kind in ("roles", "users"):
            if kind in parse and mentions.get(kind):
                return _error(
                    400, 50035, "Invalid Form Body", {"allowed_mentions": f"parse:{kind} with {kind}"}
                )
    if not allow_empty and not content and not files and not body.get("embeds"):
        return _error(400, 50006, "Cannot send an empty message")
    return None


_ROLE_PING = re.compile(r"<@&(\d+)>")
_USER_PING = re.compile(r"<@!?(\d+)>")


def _pings(content: str, allowed: dict[str, Any] | None) -> tuple[list[int], list[int], bool]:
    """Who a message really pings: (user ids, role ids, @everyone/@here), after ``allowed_mentions``."""
    if allowed is None:
        parse, users, roles = {"users", "roles", "everyone"}, set(), set()
    else:
        parse = set(allowed.get("parse", []))
        users = {int(u) for u in allowed.get("users", []) or []}
        roles = {int(r) for r in allowed.get("roles", []) or []}
    pinged_roles = [int(r) for r in _ROLE_PING.findall(content) if "roles" in parse or int(r) in roles]
    pinged_users = [int(u) for u in _USER_PING.findall(content) if "users" in parse or int(u) in users]
    everyone = "everyone" in parse and ("@everyone" in content or "@here" in content)
    return pinged_users, pinged_roles, everyone


def _parse_multipart(content_type: str, body: bytes) -> tuple[Any, list[RecordedFile]]:
    parsed = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    payload: Any = None
    files: list[RecordedFile] = []
    for part in parsed.iter_parts() if isinstance(parsed, EmailMessage) else []:
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        assert isinstance(data, bytes)
        if name == "payload_json":
            payload = json.loads(data)
        else:
            files.append(
                RecordedFile(str(name), str(part.get_filename() or ""), part.get_content_type(), data)
            )
    return payload, files
