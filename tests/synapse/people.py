"""A human on the homeserver: a real matrix-nio client (with end-to-end encryption) driven by tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    Event,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
)
from nio.store import SqliteStore

from tests.synapse.homeserver import Homeserver, User

__all__ = ["Person"]


class Person:
    """Someone in the rooms, with their own device and crypto store."""

    def __init__(self, server: Homeserver, user: User, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.server = server
        self.user = user
        self.client = AsyncClient(
            server.url,
            user.user_id,
            store_path=str(store),
            config=AsyncClientConfig(store=SqliteStore, encryption_enabled=True, max_timeouts=0),
        )
        self.client.restore_login(user.user_id, user.device_id, user.access_token)

    @property
    def user_id(self) -> str:
        return self.user.user_id

    async def start(self) -> None:
        """Upload the device keys and catch up, so others can encrypt for this device."""
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        await self.sync(0)

    async def close(self) -> None:
        await self.client.close()

    async def sync(self, timeout_ms: int = 0) -> SyncResponse:
        answer = await self.client.sync(timeout=timeout_ms)
        assert isinstance(answer, SyncResponse), answer
        client = self.client
        await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        return answer

    # --- rooms -----------------------------------------------------------------------------------

    async def create_room(
        self,
        *,
        version: str = "12",
        invite: tuple[str, ...] = (),
        encrypted: bool = False,
        users: dict[str, int] | None = None,
        alias: str | None = None,
    ) -> str:
        """A private room; ``users`` overrides the power-levels map's ``users``."""
        initial_state: list[dict[str, Any]] = []
        if encrypted:
            initial_state.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        answer = await self.client.room_create(
            room_version=version,
            invite=list(invite),
            initial_state=initial_state,
            power_level_override={"users": users} if users is not None else None,
            alias=alias,
        )
        assert isinstance(answer, RoomCreateResponse), answer
        await self.sync(0)
        room_id: str = answer.room_id
        return room_id

    async def join(self, room_id: str) -> None:
        answer = await self.client.join(room_id)
        assert not hasattr(answer, "status_code") or answer.status_code is None, answer
        await self.sync(0)

    async def say(
        self, room_id: str, body: str, *, msgtype: str = "m.text", thread: str | None = None
    ) -> str:
        """Send a message (encrypted when the room is); its event id.

        Catches up first, as a real client always has: in an encrypted room the keys of
        devices that joined since the last sync (the bot's) must be known before sending.
        """
        await self.sync(0)
        content: dict[str, Any] = {"msgtype": msgtype, "body": body}
        if thread is not None:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread, "is_falling_back": True}
        answer = await self.client.room_send(
            room_id, "m.room.message", content, ignore_unverified_devices=True
        )
        assert isinstance(answer, RoomSendResponse), answer
        event_id: str = answer.event_id
        return event_id

    # --- reading ---------------------------------------------------------------------------------

    async def wait_for(self, room_id: str, match: Callable[[Event], bool], *, within: float = 30) -> Event:
        """The first new event in ``room_id`` matching ``match`` (syncs until it arrives)."""

        async def look() -> Event:
            while True:
                answer = await self.sync(5_000)  # long poll: returns as soon as something happens
                room = answer.rooms.join.get(room_id)
                for event in room.timeline.events if room else ():
                    if match(event):
                        return event

        return await asyncio.wait_for(look(), within)

    async def history(self, room_id: str, limit: int = 100) -> list[Event]:
        """The room's messages, newest first, decrypted where the keys are known."""
        await self.sync(0)
        answer = await self.client.room_messages(
            room_id,
            start=self.client.next_batch,
            limit=limit,
            message_filter={"types": ["m.room.message", "m.room.encrypted"]},
        )
        assert isinstance(answer, RoomMessagesResponse), answer
        events: list[Event] = []
        for event in answer.chunk:
            if isinstance(event, MegolmEvent):
                with contextlib.suppress(Exception):  # not for us, or keys not there yet: left as is
                    event = self.client.decrypt_event(event)
            events.append(event)
        return events

    async def messages_from(self, room_id: str, sender: str) -> list[dict[str, Any]]:
        """Contents of the m.room.message events ``sender`` posted in the room, oldest first."""
        found = []
        for event in reversed(await self.history(room_id)):
            source = event.source
            if event.sender == sender and source.get("type") in ("m.room.message", "m.room.encrypted"):
                found.append(
                    {**source.get("content", {}), "event_id": event.event_id, "decrypted": event.decrypted}
                )
        return found
