"""The Matrix sender against a real Synapse, checked from a human's client."""

from __future__ import annotations

from pathlib import Path

import pytest
from nio import RoomMessageNotice

from bot.chat.errors import PermanentDeliveryError, TransientDeliveryError
from bot.chat.matrix import LoginFailed, MatrixSender, open_sender, transaction_id
from bot.chat.message import Image, Message
from bot.config import MatrixTarget
from tests.png_support import tiny_png
from tests.synapse.fixtures import MatrixWorld, People, write_config
from tests.synapse.homeserver import download

pytest_plugins = ["tests.synapse.fixtures"]


def png() -> bytes:
    return tiny_png(2, 2)


def bulletin(image: bool = True) -> Message:
    markdown = "# Donor Friends – Monthly News\n\nThank you! **1,092** people gave in December.\n"
    html = (
        "<h1>Donor Friends – Monthly News</h1>\n<p>Thank you! <strong>1,092</strong> people gave in December.</p>"
        '<script>alert("x")</script><p><a href="https://matrix.to/#/@room:donorbot.test">@room</a>'
        ' <a href="https://example.org/donate" onclick="steal()">donate</a></p>'
    )
    picture = Image("chart.png", png(), 2, 2, "Donors per month") if image else None
    return Message(markdown=markdown, text="Thank you!", html=html, image=picture, title="Monthly News")


def target(name: str, room: str, msgtype: str = "m.notice") -> MatrixTarget:
    return MatrixTarget(name=name, platform="matrix", room=room, msgtype=msgtype)  # type: ignore[arg-type]


async def sender_for(tmp_path: Path, world: MatrixWorld, room: str, **options: str) -> MatrixSender:
    config = write_config(tmp_path / "config.toml", world, {"news": room}, **options)
    return await open_sender(config)


async def test_a_bulletin_is_a_notice_with_sanitised_html_then_an_image(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,))
    sender = await sender_for(tmp_path, matrix_world, room)
    try:
        ids = await sender.send(target("news", room), bulletin(), "donorbot.bulletin.news.2025-12.0")
    finally:
        await sender.close()

    posted = await alice.messages_from(room, matrix_world.bot.user_id)
    assert [p["event_id"] for p in posted] == ids
    text, picture = posted
    assert text["msgtype"] == "m.notice"
    assert text["body"] == bulletin().text.strip(), "plain text, not the Markdown source"
    assert text["format"] == "org.matrix.custom.html"
    assert text["formatted_body"].startswith("<h1>Donor Friends – Monthly News</h1>")
    assert "<strong>1,092</strong>" in text["formatted_body"]
    assert "script" not in text["formatted_body"] and "alert" not in text["formatted_body"]
    assert "matrix.to" not in text["formatted_body"], "no pill, hence no mention"
    assert "onclick" not in text["formatted_body"]
    assert 'href="https://example.org/donate"' in text["formatted_body"]
    assert text["m.mentions"] == {}
    assert picture["msgtype"] == "m.image"
    assert picture["body"] == "Donors per month"
    assert picture["info"]["mimetype"] == "image/png" and picture["info"]["w"] == 2
    assert download(matrix_world.server, picture["url"], matrix_world.admin.access_token) == png()


async def test_m_text_when_the_target_asks_for_it(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,))
    sender = await sender_for(tmp_path, matrix_world, room)
    try:
        await sender.send(
            target("news", room, "m.text"), bulletin(image=False), "donorbot.bulletin.news.2025-11.0"
        )
    finally:
        await sender.close()

    [text] = await alice.messages_from(room, matrix_world.bot.user_id)
    assert text["msgtype"] == "m.text"


async def test_a_resend_with_the_same_key_is_deduplicated_by_the_homeserver(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,))
    key = "donorbot.bulletin.news.2025-12.0"

    first = await sender_for(tmp_path, matrix_world, room)
    try:
        ids = await first.send(target("news", room), bulletin(), key)
    finally:
        await first.close()
    # A new process after a crash: a new client, the same key.
    second = await sender_for(tmp_path, matrix_world, room)
    try:
        again = await second.send(target("news", room), bulletin(), key)
        other = await second.send(target("news", room), bulletin(image=False), key.replace(".0", ".1"))
    finally:
        await second.close()

    assert again == ids, "the homeserver answered with the events it already had"
    posted = await alice.messages_from(room, matrix_world.bot.user_id)
    assert [p["event_id"] for p in posted] == [*ids, *other]
    assert len(other) == 1 and other[0] not in ids


def test_transaction_ids_are_stable_and_distinct_per_part() -> None:
    key = "donorbot.bulletin.news.2025-12.0"
    assert transaction_id(key, "text") == transaction_id(key, "text")
    assert transaction_id(key, "text") != transaction_id(key, "image")
    assert transaction_id(key, "text") != transaction_id(key.replace(".0", ".1"), "text")
    assert transaction_id(key, "text").isascii() and "/" not in transaction_id(key, "text")


async def test_a_room_alias_is_resolved_and_joined(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    alice = await people(matrix_world.admin)
    localpart = matrix_world.admin.user_id.split(":")[0].lstrip("@")
    room = await alice.create_room(invite=(matrix_world.bot.user_id,), alias=f"news-{localpart}")
    alias = f"#news-{localpart}:donorbot.test"
    sender = await sender_for(tmp_path, matrix_world, alias)
    try:
        await sender.send(target("news", alias), bulletin(image=False), "donorbot.bulletin.news.2025-12.0")
    finally:
        await sender.close()

    assert len(await alice.messages_from(room, matrix_world.bot.user_id)) == 1


async def test_an_encrypted_room_gets_an_encrypted_bulletin_the_human_can_read(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,), encrypted=True)
    sender = await sender_for(tmp_path, matrix_world, room)
    try:
        ids = await sender.send(target("news", room), bulletin(), "donorbot.bulletin.news.2025-12.0")
    finally:
        await sender.close()

    notice = await alice.wait_for(room, lambda e: isinstance(e, RoomMessageNotice))
    assert notice.decrypted, "the human's client decrypted it"
    assert notice.event_id == ids[0]
    assert "<strong>1,092</strong>" in notice.source["content"]["formatted_body"]
    raw = matrix_world.server.request(
        "GET", f"/_matrix/client/v3/rooms/{room}/event/{ids[0]}", token=matrix_world.admin.access_token
    )
    assert raw["type"] == "m.room.encrypted" and "1,092" not in str(raw), "nothing readable on the server"
    posted = await alice.messages_from(room, matrix_world.bot.user_id)
    picture = posted[1]
    assert picture["msgtype"] == "m.image" and picture["decrypted"]
    assert "url" not in picture and picture["file"]["url"].startswith("mxc://")
    cipher = download(matrix_world.server, picture["file"]["url"], matrix_world.admin.access_token)
    assert cipher != png(), "the picture is uploaded encrypted"


async def test_a_restart_keeps_the_crypto_identity_in_the_data_dir(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,), encrypted=True)
    identities = []
    for month in ("2025-11", "2025-12"):  # two runs of donorbot post, one data dir
        sender = await sender_for(tmp_path, matrix_world, room)
        try:
            assert sender.client.olm is not None
            identities.append(sender.client.olm.account.identity_keys["ed25519"])
            await sender.send(
                target("news", room), bulletin(image=False), f"donorbot.bulletin.news.{month}.0"
            )
        finally:
            await sender.close()

    assert identities[0] == identities[1], "the second run loaded the Olm account instead of making one"
    posted = await alice.messages_from(room, matrix_world.bot.user_id)
    assert len(posted) == 2 and all(m["decrypted"] for m in posted), posted


async def test_no_plain_text_into_an_encrypted_room_when_encryption_is_off(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,), encrypted=True)
    sender = await sender_for(tmp_path, matrix_world, room, matrix_extra="encryption = false")
    try:
        with pytest.raises(PermanentDeliveryError, match="end-to-end encrypted but this bot cannot encrypt"):
            await sender.send(target("news", room), bulletin(), "donorbot.bulletin.news.2025-12.0")
    finally:
        await sender.close()

    assert await alice.messages_from(room, matrix_world.bot.user_id) == []


async def test_without_the_e2e_extra_the_bot_says_so_and_skips_encrypted_rooms(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    alice = await people(matrix_world.admin)
    secret = await alice.create_room(invite=(matrix_world.bot.user_id,), encrypted=True)
    plain = await alice.create_room(invite=(matrix_world.bot.user_id,))
    # What an install without vodozemac looks like to the adapter (this venv has it).
    monkeypatch.setattr("bot.chat.matrix.store.ENCRYPTION_ENABLED", False)
    with caplog.at_level("WARNING", logger="bot.chat.matrix"):
        sender = await sender_for(tmp_path, matrix_world, secret)
    try:
        assert sender.client.olm is None
        with pytest.raises(PermanentDeliveryError, match="end-to-end encrypted but this bot cannot encrypt"):
            await sender.send(target("news", secret), bulletin(), "donorbot.bulletin.news.2025-12.0")
        await sender.send(target("other", plain), bulletin(image=False), "donorbot.bulletin.other.2025-12.0")
    finally:
        await sender.close()

    assert "pip install 'matrix-nio[e2e]'" in caplog.text and "encrypted rooms will be skipped" in caplog.text
    assert await alice.messages_from(secret, matrix_world.bot.user_id) == []
    assert len(await alice.messages_from(plain, matrix_world.bot.user_id)) == 1


async def test_a_room_the_bot_may_not_post_in_is_a_permanent_failure(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,))
    await alice.client.room_put_state(
        room,
        "m.room.power_levels",
        {"users": {}, "events_default": 50, "state_default": 50, "users_default": 0},
    )
    sender = await sender_for(tmp_path, matrix_world, room)
    try:
        with pytest.raises(PermanentDeliveryError, match="forbidden"):
            await sender.send(target("news", room), bulletin(), "donorbot.bulletin.news.2025-12.0")
    finally:
        await sender.close()


@pytest.mark.parametrize("room", ["!nowhere:donorbot.test", "#nowhere:donorbot.test"])
async def test_an_unknown_room_is_a_permanent_failure(
    tmp_path: Path, matrix_world: MatrixWorld, room: str
) -> None:
    sender = await sender_for(tmp_path, matrix_world, room)
    try:
        with pytest.raises(PermanentDeliveryError, match=r"nowhere"):
            await sender.send(target("news", room), bulletin(), "donorbot.bulletin.news.2025-12.0")
    finally:
        await sender.close()


async def test_a_rate_limit_is_transient_with_the_servers_delay(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    server = matrix_world.server
    root = server.register(f"root-{matrix_world.bot.user_id.split(':')[0].lstrip('@')}", admin=True)
    # Synapse takes whole messages per second: one a second, and no burst beyond the first.
    server.override_ratelimit(root, matrix_world.bot.user_id, per_second=1, burst_count=1)
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,))
    sender = await sender_for(tmp_path, matrix_world, room)
    try:
        # Joining counts against the same limit, so the first send may already meet it.
        with pytest.raises(TransientDeliveryError, match="rate limited") as caught:
            for month in range(1, 6):
                key = f"donorbot.bulletin.news.2025-{month:02d}.0"
                await sender.send(target("news", room), bulletin(image=False), key)
    finally:
        await sender.close()

    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 1


async def test_password_login_keeps_one_device_across_restarts(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,))
    devices = []
    for month in ("2025-11", "2025-12"):
        sender = await sender_for(tmp_path, matrix_world, room, login="password")
        try:
            devices.append(sender.client.device_id)
            await sender.send(
                target("news", room), bulletin(image=False), f"donorbot.bulletin.news.{month}.0"
            )
        finally:
            await sender.close()

    assert devices[0] == devices[1]
    listed = matrix_world.server.request(
        "GET", "/_matrix/client/v3/devices", token=matrix_world.bot.access_token
    )
    assert len(listed["devices"]) == 2, "the registration's device and the bot's one"
    session = tmp_path / "data" / "matrix" / "session.json"
    assert session.stat().st_mode & 0o777 == 0o600
    assert matrix_world.bot.password not in session.read_text()


async def test_a_wrong_token_is_refused_at_login(tmp_path: Path, matrix_world: MatrixWorld) -> None:
    config = write_config(tmp_path / "config.toml", matrix_world, {"news": "!x:donorbot.test"})
    import os

    os.environ["DONORBOT_TEST_MATRIX_TOKEN"] = "syt_not_a_token"
    with pytest.raises(LoginFailed, match="refused the access token"):
        await open_sender(config)


async def test_one_process_at_a_time_holds_the_bots_end_to_end_identity(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    from bot.chat.matrix.store import IdentityInUse

    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,), encrypted=True)
    first = await sender_for(tmp_path, matrix_world, room)
    try:
        with pytest.raises(IdentityInUse, match="in use by another donorbot process"):
            await sender_for(tmp_path, matrix_world, room)
    finally:
        await first.close()
    again = await sender_for(tmp_path, matrix_world, room)  # released when the first one closed
    await again.close()
