"""Who is an admin of a room, from its ``m.room.create`` and ``m.room.power_levels`` state.

Since room version 12 the creators (the create event's sender and its
``additional_creators``) are not listed in the power-levels map: they have an
infinite level that outranks everyone. Older versions list the creator like
anyone else, and give it 100 only while the room has no power-levels event.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RoomPower", "creators_outrank_everyone", "is_admin", "power_level"]

# Room versions whose creators are privileged (MSC4289): 12, and the pre-release name for it.
_PRIVILEGED_CREATOR_VERSIONS = {"12", "org.matrix.hydra.11"}


def creators_outrank_everyone(room_version: str) -> bool:
    return room_version in _PRIVILEGED_CREATOR_VERSIONS


@dataclass
class RoomPower:
    """The two state events that decide power in one room (raw event dicts, as the server sent them)."""

    create: Mapping[str, Any] | None = None
    power_levels: Mapping[str, Any] | None = None

    def update(self, event: Mapping[str, Any]) -> None:
        """Take a state event into account if it is one of ours."""
        if event.get("state_key") != "":
            return
        if event.get("type") == "m.room.create":
            self.create = event
        elif event.get("type") == "m.room.power_levels":
            self.power_levels = event

    @property
    def room_version(self) -> str:
        content = (self.create or {}).get("content") or {}
        return str(content.get("room_version", "1"))

    @property
    def creators(self) -> set[str]:
        if self.create is None:
            return set()
        content = self.create.get("content") or {}
        found = {str(self.create.get("sender", ""))}
        if creators_outrank_everyone(self.room_version):
            extra = content.get("additional_creators")
            if isinstance(extra, list):
                found.update(str(user) for user in extra)
        elif isinstance(content.get("creator"), str):
            found = {content["creator"]}  # before version 11 the content names the creator
        return found - {""}


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def power_level(user_id: str, room: RoomPower) -> float:
    """``user_id``'s power level in ``room`` (``math.inf`` for a creator in version 12 rooms)."""
    if creators_outrank_everyone(room.room_version) and user_id in room.creators:
        return math.inf
    if room.power_levels is None:
        return 100 if user_id in room.creators else 0
    content = room.power_levels.get("content") or {}
    users = content.get("users")
    if isinstance(users, dict) and user_id in users:
        return _int(users[user_id], 0)
    return _int(content.get("users_default"), 0)


def is_admin(user_id: str, room: RoomPower, *, admin_level: int, admins: Iterable[str] = ()) -> bool:
    """Listed in the configuration, or powerful enough in this room."""
    return user_id in set(admins) or power_level(user_id, room) >= admin_level
