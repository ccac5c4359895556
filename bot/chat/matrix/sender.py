"""Posting to Matrix rooms: bulletins (``m.notice``/``m.text`` + ``m.image``) and command replies.

Every event is sent under a transaction id derived from the delivery key and the
part (text, image), so sending again after a crash reuses the id and the
homeserver answers with the event it already has instead of a second one.

A room that is end-to-end encrypted (as the homeserver says, asked before every
send) only ever receives encrypted events; if this process cannot encrypt,
the send fails with a PermanentDeliveryError saying so.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nio import (
    AsyncClient,
    ErrorResponse,
    JoinResponse,
    RoomGetStateEventResponse,
    RoomResolveAliasResponse,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)
from nio.exceptions import LocalProtocolError

from bot.chat.errors import PermanentDeliveryError, TransientDeliveryError
from bot.chat.layout import Part, fit, shape
from bot.chat.matrix import failures
from bot.chat.matrix.formatting import file_content, image_content, text_content, thread_relation
from bot.chat.matrix.size import content_budget, event_size
from bot.chat.matrix.store import connect
from bot.chat.message import Image, Message
from bot.chat.sender import MemoryParts, PartLog
from bot.config import Config, MatrixTarget, Target

__all__ = ["MatrixSender", "open_sender", "transaction_id"]

log = logging.getLogger(__name__)

# The first sync of a one-shot sender needs the rooms' state, not their history.
STATE_ONLY_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 1}}, "presence": {"not_types": ["*"]}}
# Room version 4 on: "$" and 43 characters of unpadded URL-safe base64 (sizes are counted with it).
_LONGEST_EVENT_ID = "$" + "x" * 63


def transaction_id(key: str, part: str) -> str:
    """The Matrix transaction id of one part of one delivery: same key and part, same id."""
    digest = hashlib.sha256(f"{key}\x00{part}".encode()).hexdigest()[:40]
    return f"donorbot.{digest}"


class MatrixSender:
    """Sends to the configured rooms through one logged-in nio client.

    ``refresh`` brings the client's room state up to date (a sync); a standalone
    sender syncs itself, the long-running bot passes "wait for my next sync".
    """

    platform = "matrix"

    def __init__(
        self,
        client: AsyncClient,
        *,
        owns_client: bool = True,
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self._owns_client = owns_client
        self._refresh = refresh or self.sync_state
        self._room_ids: dict[str, str] = {}  # configured id or alias -> room id

    # --- the Sender protocol ----------------------------------------------------------------

    async def send(
        self, target: Target, message: Message, key: str, parts: PartLog | None = None
    ) -> list[str]:
        """Post a message: the headline (thread root) and the chart, then the long parts in its thread.

        Each event is a named part (``text``, ``upload``, ``image``, ``thread.N``,
        ``file.N``): a part ``parts`` says was posted is skipped, and each one is
        recorded as soon as it is posted, so a resend posts only the rest.
        """
        if not isinstance(target, MatrixTarget):
            raise PermanentDeliveryError(f"{target.name} is not a Matrix target")
        room_id = await self.room_id(target.room)
        ids = await self.post_message(room_id, message, key, target.msgtype, parts=parts)
        log.info("Matrix: posted to %s (%s): %d event(s)", room_id, target.name, len(ids))
        return ids

    async def post_message(
        self,
        room_id: str,
        message: Message,
        key: str,
        msgtype: str = "m.notice",
        *,
        parts: PartLog | None = None,
        relation: dict[str, Any] | None = None,
        mentions: list[str] | None = None,
    ) -> list[str]:
        """Post ``message`` as events, each within the size limit; their ids.

        The first event (``relation``: a reply, say) holds the headline, the chart
        follows it; the rest goes in a thread on the first event, or in the thread
        ``relation`` already places it in. ``mentions`` are the only users notified.
        """
        log_parts: PartLog = parts if parts is not None else MemoryParts()
        encrypted = await self._ready_to_send(room_id)
        headline, rest = shape(message)
        budget = content_budget()

        def size(part: Part) -> int:
            content = text_content(part, msgtype)
            content["m.relates_to"] = thread_relation(_LONGEST_EVENT_ID, _LONGEST_EVENT_ID)
            content["m.mentions"] = {"user_ids": mentions or []}
            return event_size(content, encrypted)

        def tagged(content: dict[str, Any]) -> dict[str, Any]:
            if mentions:
                content["m.mentions"] = {"user_ids": list(mentions)}
            return content

        heads = fit(headline, size, budget)
        follow = heads[1:] + [piece for part in rest for piece in fit(part, size, budget)]
        first = tagged(text_content(heads[0], msgtype))
        if relation:
            first["m.relates_to"] = relation
        if message.image is not None and not (heads[0].text.strip() or heads[0].markdown.strip()):
            root = await self._image_part(log_parts, room_id, message.image, key, encrypted, relation)
            ids = [root]
        else:
            root = await self._part(log_parts, "text", room_id, first, key)
            ids = [root]
            if message.image is not None:
                ids.append(
                    await self._image_part(log_parts, room_id, message.image, key, encrypted, relation)
                )
        thread = relation["event_id"] if relation and relation.get("rel_type") == "m.thread" else root
        previous = root
        for number, part in enumerate(follow):
            content = text_content(part, msgtype)
            content["m.relates_to"] = thread_relation(thread, previous)
            previous = await self._part(log_parts, f"thread.{number}", room_id, content, key)
            ids.append(previous)
        for number, attachment in enumerate(message.attachments):
            name = f"file.{number}"
            done = log_parts.sent(name)
            if done is None:
                where = await self._upload(
                    log_parts,
                    f"upload.{name}",
                    attachment.data,
                    attachment.mime,
                    attachment.filename,
                    encrypted,
                )
                content = file_content(attachment, **where)
                content["m.relates_to"] = thread_relation(thread, previous)
                done = await self._part(log_parts, name, room_id, content, key)
            previous = done
            ids.append(done)
        return ids

    async def _part(self, parts: PartLog, name: str, room_id: str, content: dict[str, Any], key: str) -> str:
        """Send one named part unless it was posted already; record it as soon as it is."""
        done = parts.sent(name)
        if done is not None:
            return done
        event_id = await self._room_send(room_id, content, transaction_id(key, name))
        await parts.record(name, event_id)
        return event_id

    async def _image_part(
        self,
        parts: PartLog,
        room_id: str,
        image: Image,
        key: str,
        encrypted: bool,
        relation: dict[str, Any] | None = None,
    ) -> str:
        done = parts.sent("image")
        if done is not None:
            return done
        where = await self._upload(parts, "upload", image.data, image.mime, image.filename, encrypted)
        content = image_content(image, **where)
        if relation:
            content["m.relates_to"] = relation
        return await self._part(parts, "image", room_id, content, key)

    async def _upload(
        self, parts: PartLog, name: str, data: bytes, mime: str, filename: str, encrypted: bool
    ) -> dict[str, Any]:
        """Upload a file once per delivery: ``{"url": mxc}`` or ``{"file": {...keys, "url": mxc}}``.

        What the upload gave is recorded as the part ``name``, so a resend reuses it
        instead of uploading the same picture again.
        """
        recorded = parts.sent(name)
        if recorded is not None:
            saved = json.loads(recorded)
            if isinstance(saved, dict) and ("url" in saved or "file" in saved):
                return saved
        doing = f"uploading {filename}"
        try:
            answer, keys = await self.client.upload(
                io.BytesIO(data), content_type=mime, filename=filename, encrypt=encrypted, filesize=len(data)
            )
        except failures.TRANSPORT_ERRORS as exc:
            raise failures.from_exception(exc, doing) from exc
        if not isinstance(answer, UploadResponse):
            raise failures.from_response(answer, doing)
        if encrypted:
            assert keys is not None
            where: dict[str, Any] = {"file": {**keys, "url": answer.content_uri, "mimetype": mime}}
        else:
            where = {"url": answer.content_uri}
        await parts.record(name, json.dumps(where))
        return where

    async def close(self) -> None:
        if self._owns_client:
            await self.client.close()

    # --- rooms ---------------------------------------------------------------------------------

    async def sync_state(self) -> None:
        """One sync, for the rooms' state (membership, encryption) and to-device keys."""
        try:
            answer = await self.client.sync(timeout=0, sync_filter=STATE_ONLY_FILTER, full_state=True)
        except failures.TRANSPORT_ERRORS as exc:
            raise failures.from_exception(exc, "syncing with the homeserver") from exc
        if not isinstance(answer, SyncResponse):
            raise failures.from_response(answer, "syncing with the homeserver")
        await self._housekeeping()

    async def _housekeeping(self) -> None:
        """What nio's sync loop does after a sync, for the keys of encrypted rooms."""
        client = self.client
        if client.olm is None:
            return
        await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())

    async def room_id(self, room: str) -> str:
        """The id of a configured room (id or alias), joining it if the bot is not in it yet."""
        known = self._room_ids.get(room)
        if known is not None and known in self.client.rooms:
            return known
        room_id = await self.join(room)
        if room_id not in self.client.rooms:
            await self._refresh()  # the joined room's state (encryption, members) comes with a sync
        return room_id

    async def join(self, room: str) -> str:
        """Join a room by id or alias (a no-op on the server when already joined); its id."""
        room_id = self._room_ids.get(room) or await self._resolve(room)
        if room_id not in self.client.rooms:
            try:
                answer = await self.client.join(room_id)
            except failures.TRANSPORT_ERRORS as exc:
                raise failures.from_exception(exc, f"joining {room}") from exc
            if not isinstance(answer, JoinResponse):
                raise failures.from_response(answer, f"joining {room} (is the bot invited?)")
            log.info("Matrix: joined %s (%s)", room, room_id)
        self._room_ids[room] = room_id
        return room_id

    async def _resolve(self, room: str) -> str:
        if not room.startswith("#"):
            return room
        try:
            answer = await self.client.room_resolve_alias(room)
        except failures.TRANSPORT_ERRORS as exc:
            raise failures.from_exception(exc, f"resolving {room}") from exc
        if not isinstance(answer, RoomResolveAliasResponse):
            raise failures.from_response(answer, f"resolving {room}")
        room_id: str = answer.room_id
        return room_id

    async def is_encrypted(self, room_id: str) -> bool:
        """Whether the homeserver says ``room_id`` is encrypted (its m.room.encryption state)."""
        if room_id in self.client.encrypted_rooms:
            return True  # encryption cannot be turned off
        try:
            answer = await self.client.room_get_state_event(room_id, "m.room.encryption")
        except failures.TRANSPORT_ERRORS as exc:
            raise failures.from_exception(exc, f"reading the state of {room_id}") from exc
        if isinstance(answer, RoomGetStateEventResponse):
            return bool(answer.content.get("algorithm"))
        if answer.status_code == "M_NOT_FOUND":
            return False
        raise failures.from_response(answer, f"reading the state of {room_id}")

    async def _ready_to_send(self, room_id: str) -> bool:
        """Check encryption before anything is sent; True when the room is encrypted."""
        encrypted = await self.is_encrypted(room_id)
        client = self.client
        if encrypted and client.olm is None:
            raise PermanentDeliveryError(
                f"{room_id} is end-to-end encrypted but this bot cannot encrypt (matrix.encryption is off, "
                "or matrix-nio's e2e extra is not installed): nothing was posted there"
            )
        if client.olm is not None:
            room = client.rooms.get(room_id)
            if room is None or room.encrypted != encrypted:
                await self._refresh()
                room = client.rooms.get(room_id)
            if room is None or room.encrypted != encrypted:
                raise TransientDeliveryError(f"the state of {room_id} has not reached the bot yet")
        return encrypted

    # --- events --------------------------------------------------------------------------------

    async def post(self, room_id: str, content: dict[str, Any], txn: str) -> str:
        """Send one ``m.room.message``; its event id."""
        await self._ready_to_send(room_id)
        return await self._room_send(room_id, content, txn)

    async def post_image(
        self, room_id: str, image: Image, txn: str, relation: dict[str, Any] | None = None
    ) -> str:
        """Upload ``image`` (encrypted in an encrypted room) and send it as ``m.image``."""
        encrypted = await self._ready_to_send(room_id)
        where = await self._upload(MemoryParts(), "upload", image.data, image.mime, image.filename, encrypted)
        content = image_content(image, **where)
        if relation:
            content["m.relates_to"] = relation
        return await self._room_send(room_id, content, txn)

    async def _room_send(self, room_id: str, content: dict[str, Any], txn: str) -> str:
        doing = f"sending to {room_id}"
        try:
            answer = await self.client.room_send(
                room_id, "m.room.message", content, tx_id=txn, ignore_unverified_devices=True
            )
        except failures.TRANSPORT_ERRORS as exc:
            raise failures.from_exception(exc, doing) from exc
        except LocalProtocolError as exc:
            raise failures.from_exception(exc, doing) from exc
        if isinstance(answer, ErrorResponse) or not isinstance(answer, RoomSendResponse):
            raise failures.from_response(answer, doing)
        event_id: str = answer.event_id
        return event_id


async def open_sender(config: Config) -> MatrixSender:
    """Log in (reusing the saved device) and sync once; the caller closes the sender.

    Raises:
        ConfigError: the secret's environment variable is not set.
        LoginFailed: the homeserver refused the credentials.
        DeliveryError: the first sync failed.
    """
    client = await connect(config)
    sender = MatrixSender(client)
    try:
        await sender.sync_state()
    except BaseException:
        await client.close()
        raise
    return sender
