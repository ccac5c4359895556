"""The long-running Matrix bot: one sync loop, ``!`` commands, invites, replies as notices.

Only what happens after the bot started is answered: the first sync (full
state, no timeline handling) gives the point from which the loop continues, and
in a room the bot joins later, only events after its own join count. The bot
ignores its own events, every ``m.notice`` (other bots speak in notices, and
answering them makes loops), edits, and messages it cannot decrypt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from nio import (
    AsyncClient,
    InviteInfo,
    JoinResponse,
    MegolmEvent,
    RoomInfo,
    RoomMessageText,
    SyncResponse,
)

from bot import i18n
from bot.chat.commands import Invocation, Reply, parse_bang
from bot.chat.matrix import failures
from bot.chat.matrix.formatting import reply_relation
from bot.chat.matrix.power import RoomPower, is_admin
from bot.chat.matrix.sender import MatrixSender
from bot.chat.matrix.store import connect
from bot.chat.message import Message
from bot.config import Config, MatrixSettings, MatrixTarget

__all__ = ["CommandHandler", "MatrixBot"]

log = logging.getLogger(__name__)

SYNC_TIMEOUT_MS = 30_000
_MAX_BACKOFF = 60.0


class CommandHandler(Protocol):
    """What the bot needs from :class:`bot.chat.commands.CommandService`."""

    async def handle(self, inv: Invocation) -> Reply: ...


class MatrixBot:
    """Answers ``!`` commands in the rooms it is in, until closed.

    ``await start()`` logs in, runs the first sync, joins the configured rooms
    and starts the sync loop in the background, then sets :attr:`ready`.
    :meth:`sender` posts through the same login; ``await close()`` stops.
    """

    def __init__(
        self, config: Config, commands: CommandHandler, *, sync_timeout_ms: int = SYNC_TIMEOUT_MS
    ) -> None:
        if config.matrix is None:
            raise ValueError("[matrix] is not configured")
        self._config = config
        self._settings: MatrixSettings = config.matrix
        self._commands = commands
        self._sync_timeout_ms = sync_timeout_ms
        self._client: AsyncClient | None = None
        self._sender: MatrixSender | None = None
        self._loop: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._synced = asyncio.Event()  # replaced by a fresh one after every sync
        self._joined: set[str] = set()
        self._power: dict[str, RoomPower] = {}
        self._started_ms = 0
        self.ready = asyncio.Event()
        self.rooms: dict[str, MatrixTarget] = {}  # room id -> the configured target it is

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self._settings.user_id

    async def start(self) -> None:
        """Log in, sync once, join the configured rooms, then sync in the background.

        Raises:
            ConfigError: the secret's environment variable is not set.
            LoginFailed: the homeserver refused the credentials.
            DeliveryError: the first sync failed.
        """
        # Commands sent before this moment are history, whatever sync says (its first answer
        # may come from a stream position that does not include the very latest events yet).
        self._started_ms = int(time.time() * 1000)
        client = await connect(self._config)
        self._client = client
        self._sender = MatrixSender(client, owns_client=False, refresh=self._next_sync)
        try:
            first = await self._sync(timeout_ms=0, full_state=True)
            await self._absorb(first, first=True)
            await self._join_configured()
        except BaseException:
            await self.close()
            raise
        self._loop = asyncio.create_task(self._run(), name="matrix sync")
        self.ready.set()
        log.info("Matrix bot ready in %d room(s)", len(self._joined))

    async def wait_ready(self) -> None:
        await self.ready.wait()

    async def wait_closed(self) -> None:
        """Run until the sync loop ends (close(), or an error it cannot recover from: raised)."""
        if self._loop is not None:
            await self._loop

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop
            self._loop = None
        if self._tasks:
            # Replies under way get a moment to finish; the homeserver dedups a resend anyway.
            _done, pending = await asyncio.wait(set(self._tasks), timeout=10)
            for task in pending:
                task.cancel()
        if self._client is not None:
            await self._client.close()
            self._client = None
        self.ready.clear()

    def sender(self) -> MatrixSender:
        """A sender posting through this bot's login (closing it leaves the bot open)."""
        if self._sender is None:
            raise RuntimeError("start() the bot first")
        return self._sender

    # --- syncing ---------------------------------------------------------------------------------

    async def _sync(self, *, timeout_ms: int, full_state: bool = False) -> SyncResponse:
        assert self._client is not None
        answer = await self._client.sync(timeout=timeout_ms, full_state=full_state)
        if not isinstance(answer, SyncResponse):
            raise failures.from_response(answer, "syncing with the homeserver")
        return answer

    async def _run(self) -> None:
        assert self._sender is not None
        backoff = 1.0
        while True:
            try:
                answer = await self._sync(timeout_ms=self._sync_timeout_ms)
                await self._sender._housekeeping()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Matrix sync failed (%s); trying again in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            backoff = 1.0
            try:
                await self._absorb(answer, first=False)
            except Exception:
                log.exception("Matrix: could not handle a sync response")
            done, self._synced = self._synced, asyncio.Event()
            done.set()

    async def _next_sync(self) -> None:
        """Wait for the sync loop's next response (a sender's way to refresh room state)."""
        if self._loop is None:
            raise RuntimeError("the Matrix sync loop is not running")
        await asyncio.wait_for(self._synced.wait(), self._sync_timeout_ms / 1000 + 30)

    async def _absorb(self, answer: SyncResponse, *, first: bool) -> None:
        for room_id, invite in answer.rooms.invite.items():
            await self._on_invite(room_id, invite)
        for room_id, info in answer.rooms.join.items():
            await self._on_joined_room(room_id, info, first=first)
        for room_id in answer.rooms.leave:
            self._joined.discard(room_id)
            self._power.pop(room_id, None)

    async def _on_joined_room(self, room_id: str, info: RoomInfo, *, first: bool) -> None:
        power = self._power.setdefault(room_id, RoomPower())
        for event in info.state:
            power.update(_source(event))
        newly_joined = room_id not in self._joined
        self._joined.add(room_id)
        # In a room joined just now, the timeline may hold history from before the join.
        live = not newly_joined
        for event in info.timeline.events:
            source = _source(event)
            if "state_key" in source:
                power.update(source)
            if not live:
                live = _is_own_join(source, self.user_id) and not first
                continue
            self._on_event(room_id, event)

    # --- rooms and invites -----------------------------------------------------------------------

    def _targets(self) -> list[MatrixTarget]:
        return [t for t in self._config.targets if isinstance(t, MatrixTarget) and t.enabled]

    async def _join_configured(self) -> None:
        assert self._sender is not None
        for target in self._targets():
            try:
                room_id = await self._sender.join(target.room)
            except Exception as exc:  # one room missing must not keep the bot from the others
                log.error("Matrix: cannot join %s for target %s: %s", target.room, target.name, exc)
                continue
            self.rooms[room_id] = target

    def _configured(self, room_id: str, alias: str | None) -> MatrixTarget | None:
        if room_id in self.rooms:
            return self.rooms[room_id]
        for target in self._targets():
            if target.room == room_id or (alias is not None and target.room == alias):
                return target
        return None

    async def _on_invite(self, room_id: str, invite: InviteInfo) -> None:
        assert self._client is not None
        inviter: str | None = None
        alias: str | None = None
        for event in invite.invite_state:
            source = _source(event)
            content = source.get("content") or {}
            if source.get("type") == "m.room.member" and source.get("state_key") == self.user_id:
                inviter = source.get("sender")
            elif source.get("type") == "m.room.canonical_alias" and isinstance(content.get("alias"), str):
                alias = content["alias"]
        target = self._configured(room_id, alias)
        allowed = target is not None or inviter in self._settings.invite_allowlist
        if not allowed:
            log.info("Matrix: refusing an invite to %s from %s (not a configured room)", room_id, inviter)
            with contextlib.suppress(*failures.TRANSPORT_ERRORS):
                await self._client.room_leave(room_id)
            return
        answer = await self._client.join(room_id)
        if not isinstance(answer, JoinResponse):
            log.error("Matrix: could not accept the invite to %s from %s: %s", room_id, inviter, answer)
            return
        log.info("Matrix: accepted the invite to %s from %s", room_id, inviter)
        if target is not None:
            self.rooms[room_id] = target

    # --- commands --------------------------------------------------------------------------------

    def _on_event(self, room_id: str, event: Any) -> None:
        if isinstance(event, MegolmEvent):
            log.warning(
                "Matrix: cannot decrypt %s in %s from %s (no key)", event.event_id, room_id, event.sender
            )
            return
        if not isinstance(event, RoomMessageText) or event.sender == self.user_id:
            return
        if getattr(event, "server_timestamp", 0) < self._started_ms:
            return  # sent while the bot was not running: not replayed
        content = _source(event).get("content") or {}
        if content.get("msgtype") != "m.text":
            return
        relation = content.get("m.relates_to")
        if isinstance(relation, dict) and relation.get("rel_type") == "m.replace":
            return  # an edit must not run a command a second time
        parsed = parse_bang(event.body)
        if parsed is None:
            return
        task = asyncio.create_task(self._answer(room_id, event, *parsed), name=f"matrix !{parsed[0]}")
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _invocation(self, room_id: str, sender: str, command: str, argument: str | None) -> Invocation:
        target = self.rooms.get(room_id)
        return Invocation(
            command=command,
            argument=argument,
            locale=self._config.locale_of(target),
            is_admin=self._admin_in(sender, room_id),
            target=target,
            user=f"matrix:{sender}",
            # Each target's own room decides: an admin of one room posts there only.
            admin_of=frozenset(t.name for room, t in self.rooms.items() if self._admin_in(sender, room)),
        )

    def _admin_in(self, sender: str, room_id: str) -> bool:
        return is_admin(
            sender,
            self._power.get(room_id, RoomPower()),
            admin_level=self._settings.admin_power_level,
            admins=self._settings.admins,
        )

    async def _answer(self, room_id: str, event: RoomMessageText, command: str, argument: str | None) -> None:
        inv = self._invocation(room_id, event.sender, command, argument)
        log.info("!%s %s from %s in %s", command, argument or "", inv.user, room_id)
        try:
            reply = await self._commands.handle(inv)
        except Exception:
            log.exception("!%s failed", command)
            text = i18n.texts(inv.locale).gettext(
                "Sorry, something went wrong while answering. The maintainers can find the details in the bot's log."
            )
            reply = Reply(Message(markdown=text, text=text, html=""), ok=False)
        await self._reply(room_id, event, reply)

    async def _reply(self, room_id: str, event: RoomMessageText, reply: Reply) -> None:
        assert self._sender is not None
        relation = reply_relation(event.event_id, _source(event))
        key = f"reply.{event.event_id}"  # handling the same command twice posts one answer
        message = reply.message
        try:
            if message.markdown.strip() or message.text.strip() or message.image is not None:
                # The asker is notified, nobody else; a long answer (a preview) continues in a thread.
                await self._sender.post_message(
                    room_id, message, key, "m.notice", relation=relation, mentions=[event.sender]
                )
        except Exception as exc:
            log.error("Matrix: could not answer %s in %s: %s", event.event_id, room_id, exc)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Matrix command failed", exc_info=task.exception())


def _source(event: Any) -> Mapping[str, Any]:
    source = getattr(event, "source", None)
    return source if isinstance(source, dict) else {}


def _is_own_join(source: Mapping[str, Any], user_id: str) -> bool:
    content = source.get("content") or {}
    return (
        source.get("type") == "m.room.member"
        and source.get("state_key") == user_id
        and content.get("membership") == "join"
    )
