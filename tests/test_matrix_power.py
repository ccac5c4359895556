"""Who may ``!news post`` in a Matrix room: power levels, room version 12 creators, the config list.

The end-to-end checks against Synapse are in test_matrix_bot.py; these cover the state
shapes a test room cannot easily produce (additional creators, odd level values).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from bot.chat.matrix.power import RoomPower, is_admin, power_level

ALICE, BOB, CAROL, MALLORY = "@alice:x.test", "@bob:x.test", "@carol:x.test", "@mallory:x.test"


def room(
    version: str,
    users: dict[str, Any] | None,
    *,
    users_default: Any = 0,
    creator_in_content: bool = False,
    additional: list[str] | None = None,
) -> RoomPower:
    power = RoomPower()
    create: dict[str, Any] = {"room_version": version}
    if creator_in_content:
        create["creator"] = ALICE
    if additional is not None:
        create["additional_creators"] = additional
    power.update({"type": "m.room.create", "state_key": "", "sender": ALICE, "content": create})
    if users is not None:
        content = {"users": users, "users_default": users_default}
        power.update({"type": "m.room.power_levels", "state_key": "", "sender": ALICE, "content": content})
    return power


def test_a_v12_creator_outranks_everyone_though_not_in_the_map() -> None:
    power = room("12", {BOB: 100})
    assert power_level(ALICE, power) == math.inf
    assert is_admin(ALICE, power, admin_level=50)
    assert is_admin(ALICE, power, admin_level=10**9)
    assert power_level(BOB, power) == 100 and power_level(MALLORY, power) == 0


def test_v12_additional_creators_are_creators_too() -> None:
    power = room("12", {}, additional=[CAROL])
    assert power_level(CAROL, power) == math.inf
    assert not is_admin(MALLORY, power, admin_level=50)


def test_before_v12_the_creator_is_whatever_the_map_says() -> None:
    power = room("10", {ALICE: 0, BOB: 50}, creator_in_content=True)
    assert power_level(ALICE, power) == 0, "demoted in the map, the creator is no admin"
    assert not is_admin(ALICE, power, admin_level=50)
    assert is_admin(BOB, power, admin_level=50)
    assert not is_admin(BOB, power, admin_level=51)


def test_additional_creators_mean_nothing_before_v12() -> None:
    power = room("11", {BOB: 50}, additional=[CAROL])
    assert power_level(CAROL, power) == 0
    assert power_level(ALICE, power) == 0, "v11: the create event's sender, absent from the map"


def test_without_a_power_levels_event_the_creator_has_100() -> None:
    power = room("10", None, creator_in_content=True)
    assert power_level(ALICE, power) == 100 and power_level(BOB, power) == 0


def test_users_default_and_odd_values() -> None:
    power = room("10", {BOB: "75", CAROL: True, MALLORY: "lots"}, users_default=20)
    assert power_level(BOB, power) == 75  # old rooms may hold levels as strings
    assert power_level(CAROL, power) == 0 and power_level(MALLORY, power) == 0
    assert power_level("@someone:x.test", power) == 20


def test_listed_admins_are_admins_at_any_level() -> None:
    power = room("12", {})
    assert is_admin(MALLORY, power, admin_level=50, admins=[MALLORY])
    assert not is_admin(BOB, power, admin_level=50, admins=[MALLORY])


def test_an_unknown_room_gives_no_power() -> None:
    assert power_level(BOB, RoomPower()) == 0
    assert not is_admin(BOB, RoomPower(), admin_level=50)


@pytest.mark.parametrize("event_type", ["m.room.create", "m.room.power_levels"])
def test_state_with_a_state_key_is_not_the_rooms(event_type: str) -> None:
    power = RoomPower()
    power.update({"type": event_type, "state_key": "@x:y", "sender": MALLORY, "content": {"users": {}}})
    assert power.create is None and power.power_levels is None
