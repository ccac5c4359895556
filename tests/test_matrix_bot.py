"""The Matrix side of ``donorbot run`` against a real Synapse: ``!`` commands, admin rights
(room version 12 creators), no replay, other bots ignored, invites, a crash between sending
and recording, and ``donorbot post`` as a process."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nio import RoomMessageImage, RoomMessageNotice

from bot.app import Service
from bot.chat.matrix import open_sender
from bot.config import Config
from bot.core import Core
from bot.delivery import RetryPolicy, delivery_key, owe
from bot.demo import DEMO_KEY
from bot.months import Month
from tests.synapse.fixtures import KEY_ENV, MatrixWorld, People, write_config
from tests.synapse.people import Person

pytest_plugins = ["tests.synapse.fixtures"]

DECEMBER = Month(2025, 12)
NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)  # December 2025 is the last complete month
GOAL = '[[goals]]\nname = "server"\ntitle = "A new server"\namount = 500000\nstart = 2025-01-01\nend = 2026-12-31\n'


class FakeSleep:
    async def __call__(self, seconds: float) -> None:
        return None


def with_ledger(config: Config, demo_ledger: Path) -> Config:
    config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_ledger, config.ledger_path)
    return config.model_copy(update={"webhooks": config.webhooks.model_copy(update={"enabled": False})})


Start = Callable[[Config], Awaitable[Service]]


@pytest.fixture
async def start_bot() -> AsyncIterator[Start]:
    started: list[Service] = []

    async def start(config: Config) -> Service:
        service = Service(config, clock=lambda: NOW, retry_every=0, policy=RetryPolicy(sleep=FakeSleep()))
        started.append(service)
        await service.start()
        await asyncio.wait_for(service.connected["matrix"].wait(), 60)
        # What is owed is sent in the background on connecting: let that finish before a test records more.
        flushing = [task for task in service._tasks if task.get_name() == "matrix owed"]
        if flushing:
            await asyncio.wait_for(asyncio.gather(*flushing), 60)
        return service

    yield start
    for service in started:
        await service.stop()


def is_reply_to(event_id: str) -> Callable[[Any], bool]:
    def match(event: Any) -> bool:
        relation = event.source.get("content", {}).get("m.relates_to", {})
        return bool(relation.get("m.in_reply_to", {}).get("event_id") == event_id)

    return match


async def ask(person: Person, room: str, text: str, bot: str) -> Any:
    asked = await person.say(room, text)
    return await person.wait_for(room, lambda e: e.sender == bot and is_reply_to(asked)(e))


async def room_with_bot(alice: Person, world: MatrixWorld, *members: Person, version: str = "12") -> str:
    room = await alice.create_room(version=version, invite=(world.bot.user_id, *(m.user_id for m in members)))
    for member in members:
        await member.join(room)
    return room


async def test_members_commands_are_answered_as_notices_replying_to_them(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice, bob = await people(matrix_world.admin), await people(matrix_world.member)
    room = await room_with_bot(alice, matrix_world, bob)
    config = with_ledger(
        write_config(tmp_path / "config.toml", matrix_world, {"news": room}, extra=GOAL), demo_ledger
    )
    await start_bot(config)
    bot = matrix_world.bot.user_id

    donors = await ask(bob, room, "!donors", bot)
    assert isinstance(donors, RoomMessageNotice)
    assert "December 2025" in donors.body and "1,092" in donors.body
    assert "<" not in donors.body.replace("<@", "")  # Markdown body, HTML only in formatted_body
    assert donors.source["content"]["format"] == "org.matrix.custom.html"

    older = await ask(bob, room, "!donors 2025-06", bot)
    assert "June 2025" in older.body

    goal = await ask(bob, room, "!goal", bot)
    assert "A new server" in goal.body and "%" in goal.body
    assert "▰" in goal.body and "▱" in goal.body  # a text progress bar, readable in any client
    picture = await bob.wait_for(room, lambda e: isinstance(e, RoomMessageImage) and e.sender == bot)
    assert picture.source["content"]["info"]["mimetype"] == "image/png"

    donate = await ask(bob, room, "!donate", bot)
    assert "https://example.org/donate" in donate.body and "\u2060" not in donate.body, "a link to copy"
    helped = await ask(bob, room, "!help", bot)
    assert "!donors" in helped.body and "!news post" in helped.body, "help shows how to type them"
    unknown = await ask(bob, room, "!foo", bot)
    assert "!help" in unknown.body, "an unknown command points to help"
    assert unknown.source["content"]["m.mentions"] == {"user_ids": [bob.user_id]}
    bad = await ask(bob, room, "!donors 2025-13", bot)
    assert "2025-13" in bad.body


async def test_milestones_and_a_preview_that_posts_nothing(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice, bob = await people(matrix_world.admin), await people(matrix_world.member)
    room = await room_with_bot(alice, matrix_world, bob)
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": room}), demo_ledger)
    service = await start_bot(config)
    bot = matrix_world.bot.user_id

    milestones = await ask(bob, room, "!milestones", bot)
    assert isinstance(milestones, RoomMessageNotice)
    assert "1,000 donors in one month" in milestones.body, milestones.body

    refused = await ask(bob, room, "!news preview 2025-12", bot)
    assert "is for the community's admins" in refused.body, "a member cannot make the bot post a preview"
    assert refused.source["content"]["m.mentions"] == {"user_ids": [bob.user_id]}, "the asker is notified"

    preview = await ask(alice, room, "!news preview 2025-12", bot)
    assert isinstance(preview, RoomMessageNotice)
    assert preview.body.startswith("Donor Friends") and "Milestone:" in preview.body, "the headline first"
    chart = await alice.wait_for(room, lambda e: isinstance(e, RoomMessageImage) and e.sender == bot)
    assert is_reply_to(preview.source["content"]["m.relates_to"]["m.in_reply_to"]["event_id"])(chart)
    assert service.core is not None
    assert await service.core.ledger.query("SELECT * FROM deliveries") == [], "a preview is no delivery"


async def test_a_french_room_is_answered_in_french_and_a_thread_in_its_thread(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice, bob = await people(matrix_world.admin), await people(matrix_world.member)
    english = await room_with_bot(alice, matrix_world, bob)
    french = await room_with_bot(alice, matrix_world, bob)
    config = with_ledger(
        write_config(
            tmp_path / "config.toml",
            matrix_world,
            {"news": english, "nouvelles": french},
            locales={"nouvelles": "fr"},
        ),
        demo_ledger,
    )
    await start_bot(config)
    bot = matrix_world.bot.user_id

    donors = await ask(bob, french, "!donors", bot)
    assert "En décembre 2025" in donors.body and "1 092" in donors.body.replace("\u202f", " "), donors.body
    helped = await ask(bob, french, "!help", bot)
    assert "Ce que je sais faire" in helped.body
    refused = await ask(bob, french, "!news post", bot)
    assert "réservé aux admins" in refused.body
    assert "December 2025" in (await ask(bob, english, "!donors", bot)).body

    root = await bob.say(french, "Une question sur les dons")
    asked = await bob.say(french, "!donate", thread=root)
    answer = await bob.wait_for(french, lambda e: e.sender == bot and is_reply_to(asked)(e))
    relation = answer.source["content"]["m.relates_to"]
    assert relation["rel_type"] == "m.thread" and relation["event_id"] == root
    assert "Merci d’y penser" in answer.body


async def test_news_post_is_for_admins_and_a_v12_creator_outranks_everyone(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice, bob = await people(matrix_world.admin), await people(matrix_world.member)
    # Room version 12: alice created it, so she is in no power-levels map and outranks everyone.
    room = await room_with_bot(alice, matrix_world, bob)
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": room}), demo_ledger)
    service = await start_bot(config)
    bot = matrix_world.bot.user_id

    refused = await ask(bob, room, "!news post 2025-12", bot)
    assert "admin" in refused.body.lower() or "permission" in refused.body.lower(), refused.body
    assert not [
        m
        for m in await alice.messages_from(room, bot)
        if m["body"].startswith("Donor Friends – Monthly News")
    ]

    posted = await ask(alice, room, "!news post 2025-12", bot)
    assert "sent" in posted.body.lower() or "posted" in posted.body.lower(), posted.body
    bulletins = [
        m
        for m in await alice.messages_from(room, bot)
        if m["body"].startswith("Donor Friends – Monthly News")
    ]
    assert len(bulletins) == 1 and bulletins[0]["msgtype"] == "m.notice"

    again = await ask(alice, room, "!news post 2025-12", bot)
    assert "already" in again.body.lower(), again.body
    assert service.core is not None
    rows = await service.core.ledger.query("SELECT state FROM deliveries WHERE target = 'news'")
    assert [r[0] for r in rows] == ["sent"]


async def test_an_admin_of_one_room_posts_there_only_and_the_reply_names_only_it(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice, bob = await people(matrix_world.admin), await people(matrix_world.member)
    bot = matrix_world.bot.user_id
    ours = await room_with_bot(alice, matrix_world, bob)  # alice created it: her room
    theirs = await room_with_bot(bob, matrix_world, alice)  # bob's room, where alice is a member
    config = with_ledger(
        write_config(tmp_path / "config.toml", matrix_world, {"ours": ours, "theirs": theirs}), demo_ledger
    )
    await start_bot(config)

    answer = await ask(alice, ours, "!news post 2025-12", bot)

    assert "ours: sent" in answer.body and "theirs" not in answer.body, answer.body
    assert [
        m for m in await alice.messages_from(ours, bot) if m["body"].startswith("Donor Friends – Monthly")
    ]
    assert not [m for m in await bob.messages_from(theirs, bot) if m["body"].startswith("Donor Friends")]
    preview = await ask(alice, theirs, "!news preview 2025-12", bot)
    assert "is for the community's admins" in preview.body, "not an admin there: no public preview"


async def test_news_post_admins_by_power_level_in_an_older_room_or_by_config(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    carol_user = matrix_world.server.register(f"carol-{matrix_world.bot.user_id[1:].split(':')[0]}")
    alice, bob = await people(matrix_world.admin), await people(matrix_world.member)
    mallory, carol = await people(matrix_world.stranger), await people(carol_user)
    bot = matrix_world.bot.user_id
    # Room version 10: the creator is an ordinary entry of the power-levels map.
    room = await alice.create_room(
        version="10",
        invite=(bot, bob.user_id, mallory.user_id, carol.user_id),
        users={alice.user_id: 100, bob.user_id: 50},
    )
    for member in (bob, mallory, carol):
        await member.join(room)
    config = with_ledger(
        write_config(
            tmp_path / "config.toml",
            matrix_world,
            {"news": room},
            matrix_extra=f'admins = ["{carol.user_id}"]',
        ),
        demo_ledger,
    )
    await start_bot(config)

    refused = await ask(mallory, room, "!news post 2025-12", bot)
    assert "is for the community's admins" in refused.body, refused.body
    assert "news: sent" in (await ask(bob, room, "!news post 2025-12", bot)).body  # level 50
    assert "news: already sent" in (await ask(carol, room, "!news post 2025-12", bot)).body  # listed
    assert "news: already sent" in (await ask(alice, room, "!news post 2025-12", bot)).body  # level 100

    # Power changes reach the bot through its sync: mallory promoted to 50 is an admin at once.
    matrix_world.server.request(
        "PUT",
        f"/_matrix/client/v3/rooms/{room}/state/m.room.power_levels",
        token=matrix_world.admin.access_token,
        body={"users": {alice.user_id: 100, bob.user_id: 50, mallory.user_id: 50}},
    )
    await mallory.wait_for(room, lambda e: e.source.get("type") == "m.room.power_levels")
    assert "news: already sent" in (await ask(mallory, room, "!news post 2025-12", bot)).body
    bulletins = [
        m
        for m in await alice.messages_from(room, bot)
        if m["body"].startswith("Donor Friends – Monthly News")
    ]
    assert len(bulletins) == 1


async def test_commands_in_an_encrypted_room_are_answered_encrypted(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice, bob = await people(matrix_world.admin), await people(matrix_world.member)
    bot = matrix_world.bot.user_id
    room = await alice.create_room(invite=(bot, bob.user_id), encrypted=True)
    await bob.join(room)
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": room}), demo_ledger)
    await start_bot(config)

    donors = await ask(bob, room, "!donors", bot)
    assert isinstance(donors, RoomMessageNotice) and donors.decrypted
    assert "1,092" in donors.body
    raw = matrix_world.server.request(
        "GET", f"/_matrix/client/v3/rooms/{room}/event/{donors.event_id}", token=bob.user.access_token
    )
    assert raw["type"] == "m.room.encrypted" and "1,092" not in str(raw)
    # The reply relation stays outside the ciphertext, as the spec asks, so clients can thread it.
    assert raw["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]


async def test_commands_from_before_the_start_are_not_replayed_and_bots_are_not_answered(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice, bob = await people(matrix_world.admin), await people(matrix_world.member)
    room = await room_with_bot(alice, matrix_world, bob)
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": room}), demo_ledger)
    bot = matrix_world.bot.user_id
    service = await start_bot(config)
    await ask(bob, room, "!donate", bot)
    await service.stop()

    await bob.say(room, "!donors")  # while the bot is down
    service = await start_bot(config)
    # The bot's own account speaking (another of its devices, or a bulletin in m.text).
    matrix_world.server.request(
        "PUT",
        f"/_matrix/client/v3/rooms/{room}/send/m.room.message/own-words",
        token=matrix_world.bot.access_token,
        body={"msgtype": "m.text", "body": "!milestones"},
    )
    await bob.say(room, "!donors", msgtype="m.notice")  # another bot speaks in notices
    answered = await ask(bob, room, "!help", bot)
    await service.stop()  # lets every answer under way finish
    replies = [m for m in await alice.messages_from(room, bot) if "m.relates_to" in m]
    assert len(replies) == 2, [m["body"][:40] for m in replies]  # !donate, then !help: nothing else
    assert replies[-1]["event_id"] == answered.event_id


async def test_invites_are_accepted_only_to_configured_rooms_or_from_the_allowlist(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice, mallory = await people(matrix_world.admin), await people(matrix_world.stranger)
    configured = await alice.create_room()
    config = with_ledger(
        write_config(
            tmp_path / "config.toml",
            matrix_world,
            {"news": configured},
            matrix_extra=f'invite_allowlist = ["{matrix_world.admin.user_id}"]',
        ),
        demo_ledger,
    )
    await start_bot(config)
    bot = matrix_world.bot.user_id

    strangers = await mallory.create_room(invite=(bot,))
    allowed = await alice.create_room(invite=(bot,))
    await alice.client.room_invite(configured, bot)

    async def membership_becomes(room: str, token: str, wanted: str) -> None:
        # Read from the server, not from a client's sync stream, which may have passed the event by.
        path = f"/_matrix/client/v3/rooms/{room}/state/m.room.member/{bot}"
        async with asyncio.timeout(30):
            while True:
                state = await asyncio.to_thread(matrix_world.server.request, "GET", path, token=token)
                if state.get("membership") == wanted:
                    return
                await asyncio.sleep(0.1)

    await membership_becomes(allowed, matrix_world.admin.access_token, "join")
    await membership_becomes(configured, matrix_world.admin.access_token, "join")
    await membership_becomes(strangers, matrix_world.stranger.access_token, "leave")  # declined


async def test_a_crash_between_sending_and_recording_shows_one_bulletin_after_restart(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice = await people(matrix_world.admin)
    room = await room_with_bot(alice, matrix_world)
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": room}), demo_ledger)
    target = config.target("news")

    # What a crash leaves: the delivery owed (pending), the bulletin already on the homeserver.
    core = await Core.open(config)
    try:
        await owe(core, "bulletin", DECEMBER, "news", NOW)
        message = await core.bulletin(DECEMBER, "en")
    finally:
        await core.close()
    sender = await open_sender(config)
    try:
        await sender.send(target, message, delivery_key("bulletin", DECEMBER, "news", 0))
    finally:
        await sender.close()

    service = await start_bot(config)
    await service.flush(service.targets)

    bot = matrix_world.bot.user_id
    bulletins = [
        m
        for m in await alice.messages_from(room, bot)
        if m["body"].startswith("Donor Friends – Monthly News")
    ]
    assert len(bulletins) == 1, "the homeserver deduplicated the resend by its transaction id"
    assert service.core is not None
    rows = await service.core.ledger.query("SELECT state, message_ids FROM deliveries")
    assert rows[0][0] == "sent" and bulletins[0]["event_id"] in rows[0][1]


async def donorbot(config: Config, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, KEY_ENV: DEMO_KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config.source), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_donorbot_post_posts_once_then_again_with_force_and_names_a_forbidden_room(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path
) -> None:
    alice = await people(matrix_world.admin)
    room = await room_with_bot(alice, matrix_world)
    # A room where only alice may speak: the bot is invited but has no right to post.
    muted = await alice.create_room(invite=(matrix_world.bot.user_id,), users={})
    matrix_world.server.request(
        "PUT",
        f"/_matrix/client/v3/rooms/{muted}/state/m.room.power_levels",
        token=matrix_world.admin.access_token,
        body={"events_default": 50, "users_default": 0},
    )
    config = with_ledger(
        write_config(tmp_path / "config.toml", matrix_world, {"news": room, "muted": muted}), demo_ledger
    )
    bot = matrix_world.bot.user_id

    code, out, err = await donorbot(config, "post", "--month", "2025-12", "--target", "news")
    assert code == 0, err
    assert "2025-12 -> news: sent" in out
    code, out, err = await donorbot(config, "post", "--month", "2025-12", "--target", "news")
    assert code == 0 and "news: already sent" in out, out + err
    code, out, err = await donorbot(config, "post", "--month", "2025-12", "--target", "news", "--force")
    assert code == 0 and "news: sent" in out, out + err
    notices = [
        m
        for m in await alice.messages_from(room, bot)
        if m["body"].startswith("Donor Friends – Monthly News")
    ]
    assert len(notices) == 2
    images = [m for m in await alice.messages_from(room, bot) if m["msgtype"] == "m.image"]
    assert len(images) == 2, "each bulletin is followed by its chart"

    code, out, err = await donorbot(config, "post", "--month", "2025-12", "--target", "muted")
    assert code == 1
    assert "muted: failed" in out and "forbidden" in out and "power level" in out, out


async def test_a_homeserver_down_at_the_scheduled_time_gets_the_bulletin_once_when_back(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice = await people(matrix_world.admin)
    room = await room_with_bot(alice, matrix_world)
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": room}), demo_ledger)
    service = await start_bot(config)
    assert service.core is not None
    server = matrix_world.server

    server.stop()  # down for the scheduled run and every retry of it
    try:
        await service.scheduled_run("news")
        rows = await service.core.ledger.query("SELECT state, attempts, last_error FROM deliveries")
        assert rows[0][0] == "pending" and rows[0][1] == 5, [tuple(r) for r in rows]
        await service.sweep()  # still down a minute later
    finally:
        server.start()

    await service.sweep()  # back: what was owed is sent
    rows = await service.core.ledger.query("SELECT state FROM deliveries")
    assert [r[0] for r in rows] == ["sent"]
    bot = matrix_world.bot.user_id
    bulletins = [
        m
        for m in await alice.messages_from(room, bot)
        if m["body"].startswith("Donor Friends – Monthly News")
    ]
    assert len(bulletins) == 1


async def test_a_post_while_run_runs_leaves_the_delivery_to_run_and_every_message_decryptable(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, demo_ledger: Path, start_bot: Start
) -> None:
    alice, bob = await people(matrix_world.admin), await people(matrix_world.member)
    room = await alice.create_room(invite=(matrix_world.bot.user_id, bob.user_id), encrypted=True)
    await bob.join(room)
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": room}), demo_ledger)
    await start_bot(config)  # donorbot run: it holds the bot's Olm identity
    bot = matrix_world.bot.user_id

    code, out, err = await donorbot(config, "post", "--month", "2025-12", "--target", "news")

    # The second process opened no end-to-end session of its own: run sent it, with its session.
    assert code == 0 and "handed to the running donorbot run" in out + err, out + err
    assert "news: sent" in out, out + err
    answer = await ask(bob, room, "!donate", bot)  # and later messages still decrypt

    assert answer.decrypted
    posted = await alice.messages_from(room, bot)
    assert posted and all(p["decrypted"] for p in posted), [p.get("body", "")[:30] for p in posted]
    assert any(p["body"].startswith("Donor Friends – Monthly News") for p in posted)
