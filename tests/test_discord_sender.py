"""Posting bulletins to Discord over REST, checked on what the emulator really received."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.chat.discord import DiscordSender, open_sender
from bot.chat.discord.nonce import nonce_for
from bot.chat.errors import PermanentDeliveryError, TransientDeliveryError
from bot.chat.message import Image, Message
from bot.config import Config, DiscordTarget
from tests.discord_emulator import DiscordEmulator
from tests.png_support import tiny_png

pytest_plugins = ["tests.discord_emulator.fixtures"]

MESSAGES = r"/channels/\d+/messages$"


def bulletin(paragraphs: list[str], image: Image | None = None) -> Message:
    markdown = "\n\n".join(paragraphs)
    return Message(markdown=markdown, text=markdown, html="", image=image, paragraphs=tuple(paragraphs))


def target(config: Config, name: str) -> DiscordTarget:
    found = config.target(name)
    assert isinstance(found, DiscordTarget)
    return found


@pytest.fixture
async def sender(discord_config: Config) -> AsyncIterator[DiscordSender]:
    opened = await open_sender(discord_config)
    try:
        yield opened
    finally:
        await opened.close()


async def test_bulletin_content_mentions_nonce_and_image(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    image = Image("donors-2025-12.png", tiny_png(), 3, 2, alt="Donors per month, 2025")
    message = bulletin(
        ["**Thank you!** 1,204 people gave in December.", "A record, never seen before."], image
    )

    ids = await sender.send(target(discord_config, "general"), message, "donorbot.general.2025-12.0")

    [posted] = emulator.sent(emulator.world.general.id)
    assert ids == [str(posted.id)]
    assert posted.content == message.markdown
    body = posted.request.json
    assert body["allowed_mentions"] == {"parse": []}
    assert body["nonce"] == nonce_for("donorbot.general.2025-12.0", 0)
    assert len(body["nonce"]) <= 25
    assert body["enforce_nonce"] is True
    [file] = posted.files
    assert (file.filename, file.data) == ("donors-2025-12.png", image.data)
    [attachment] = posted.payload["attachments"]
    assert (attachment["width"], attachment["height"]) == (3, 2)
    assert attachment["description"] == "Donors per month, 2025"
    # No crosspost for a target that does not publish, and no channel lookup either.
    assert not emulator.calls("POST", r"/crosspost$")
    assert not emulator.calls("GET", r"^/channels/\d+$")


async def test_role_mention_is_the_only_ping_and_announcement_is_published(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    world = emulator.world
    # Text a donor wrote got through escaping badly: it still must not ping anyone.
    message = bulletin([f"Thanks to @everyone, <@{world.admin.id}> and <@&{world.treasurers.id}>!"])

    await sender.send(target(discord_config, "annonces"), message, "donorbot.annonces.2025-12.0")

    [posted] = emulator.sent(world.announcements.id)
    assert posted.content.startswith(f"<@&{world.supporters.id}>\n")
    assert posted.request.json["allowed_mentions"] == {"parse": [], "roles": [world.supporters.id]}
    assert posted.payload["mention_roles"] == [str(world.supporters.id)]
    assert posted.payload["mention_everyone"] is False
    assert posted.payload["mentions"] == []
    assert posted.payload["flags"] & 1, "the announcement was not crossposted"


async def test_long_bulletin_is_split_at_paragraphs_with_image_on_first_part(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    paragraphs = [f"Paragraph {n}: " + " ".join(["donation"] * 20) for n in range(40)]
    image = Image("goal.png", tiny_png(), 3, 2, alt="Goal progress")
    key = "donorbot.annonces.2025-12.0"

    ids = await sender.send(target(discord_config, "annonces"), bulletin(paragraphs, image), key)

    posted = emulator.sent(emulator.world.announcements.id)
    assert len(posted) == len(ids) >= 3
    assert all(len(m.content) <= 2000 for m in posted)
    role = f"<@&{emulator.world.supporters.id}>\n"
    assert posted[0].content.startswith(role)
    rebuilt = "\n\n".join(m.content for m in posted).removeprefix(role)
    assert rebuilt == "\n\n".join(paragraphs), "paragraphs were cut or reordered"
    assert [len(m.files) for m in posted] == [1] + [0] * (len(posted) - 1)
    assert [m.request.json["nonce"] for m in posted] == [nonce_for(key, i) for i in range(len(posted))]
    assert all(m.payload["flags"] & 1 for m in posted), "every part of an announcement is published"


async def test_a_huge_paragraph_is_cut_between_words(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    words = [f"word{n:04d}" for n in range(700)]  # ~6,300 characters, no blank line
    await sender.send(target(discord_config, "general"), bulletin([" ".join(words)]), "k")

    posted = emulator.sent(emulator.world.general.id)
    assert len(posted) == 4
    assert all(len(m.content) <= 2000 for m in posted)
    assert [w for m in posted for w in m.content.split(" ")] == words


async def test_resend_with_the_same_key_shows_one_message(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    message = bulletin(["Part one. " * 150, "Part two. " * 150])
    general = target(discord_config, "general")

    first = await sender.send(general, message, "donorbot.general.2025-12.0")
    again = await sender.send(general, message, "donorbot.general.2025-12.0")

    assert first == again
    assert len(emulator.sent(emulator.world.general.id)) == 2
    assert len(emulator.calls("POST", MESSAGES)) == 4

    other = await sender.send(general, message, "donorbot.general.2025-12.1")
    assert set(other).isdisjoint(first)
    assert len(emulator.sent(emulator.world.general.id)) == 4


async def test_resend_after_a_crash_through_a_new_login_is_deduplicated(
    discord_config: Config, emulator: DiscordEmulator
) -> None:
    message = bulletin(["Hello donors."])
    general = target(discord_config, "general")
    crashed = await open_sender(discord_config)
    await crashed.send(general, message, "donorbot.general.2025-12.0")
    await crashed.close()

    restarted = await open_sender(discord_config)
    try:
        await restarted.send(general, message, "donorbot.general.2025-12.0")
    finally:
        await restarted.close()

    assert len(emulator.sent(emulator.world.general.id)) == 1
    assert len(emulator.calls("GET", r"^/users/@me$")) == 2


async def test_429_retry_after_is_honoured(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    emulator.fail_next(1, 429, retry_after=0.6, method="POST", path=MESSAGES)

    await sender.send(target(discord_config, "general"), bulletin(["Hello"]), "k")

    limited, accepted = emulator.calls("POST", MESSAGES)
    assert (limited.status, accepted.status) == (429, 200)
    assert accepted.at - limited.at >= 0.6
    assert len(emulator.sent(emulator.world.general.id)) == 1


async def test_a_long_rate_limit_comes_back_as_transient_with_retry_after(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    emulator.fail_next(1, 429, retry_after=3600, method="POST", path=MESSAGES)

    with pytest.raises(TransientDeliveryError) as caught:
        await sender.send(target(discord_config, "general"), bulletin(["Hello"]), "k")

    assert caught.value.retry_after == 3600
    assert emulator.sent(emulator.world.general.id) == []


async def test_server_errors_are_transient_and_a_single_500_is_retried(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    general = target(discord_config, "general")
    emulator.fail_next(1, 503, method="POST", path=MESSAGES)
    with pytest.raises(TransientDeliveryError, match="503"):
        await sender.send(general, bulletin(["Hello"]), "k")

    emulator.fail_next(1, 500, method="POST", path=MESSAGES)
    await sender.send(general, bulletin(["Hello"]), "k")
    assert [r.status for r in emulator.calls("POST", MESSAGES)] == [503, 500, 200]
    assert len(emulator.sent(emulator.world.general.id)) == 1


async def test_a_dropped_connection_is_transient(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    general = target(discord_config, "general")
    emulator.drop_next(1, method="POST", path=MESSAGES)
    with pytest.raises(TransientDeliveryError, match="cannot reach Discord"):
        await sender.send(general, bulletin(["Hello"]), "k")

    await sender.send(general, bulletin(["Hello"]), "k")
    assert len(emulator.sent(emulator.world.general.id)) == 1


async def test_a_lost_answer_then_a_resend_shows_one_message(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    general = target(discord_config, "general")
    emulator.lose_next_answer(1, method="POST", path=MESSAGES)
    with pytest.raises(TransientDeliveryError):
        await sender.send(general, bulletin(["Hello"]), "donorbot.bulletin.general.2025-12.0")
    assert len(emulator.sent(emulator.world.general.id)) == 1, "posted, though the bot never heard"

    ids = await sender.send(general, bulletin(["Hello"]), "donorbot.bulletin.general.2025-12.0")

    [posted] = emulator.sent(emulator.world.general.id)
    assert ids == [str(posted.id)]


async def test_forbidden_and_unknown_channels_are_permanent(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    world = emulator.world
    general = target(discord_config, "general")
    message = bulletin(["Hello"])

    with pytest.raises(PermanentDeliveryError, match="Missing Permissions"):
        await sender.send(general.model_copy(update={"channel_id": world.readonly.id}), message, "k")
    with pytest.raises(PermanentDeliveryError, match="Missing Access"):
        await sender.send(general.model_copy(update={"channel_id": world.hidden.id}), message, "k")
    with pytest.raises(PermanentDeliveryError, match="unknown channel"):
        await sender.send(general.model_copy(update={"channel_id": 123456789}), message, "k")
    assert all(not emulator.sent(c.id) for c in world.guild.channels)


async def test_a_refused_token_is_permanent(
    discord_config: Config, emulator: DiscordEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DONORBOT_DISCORD_TOKEN", "not-the-token")
    sender = await open_sender(discord_config)
    try:
        with pytest.raises(PermanentDeliveryError, match="token"):
            await sender.send(target(discord_config, "general"), bulletin(["Hello"]), "k")
    finally:
        await sender.close()
    assert emulator.calls("GET", "^/users/@me$")[0].status == 401


async def test_a_missing_token_is_permanent_and_names_the_variable(
    discord_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DONORBOT_DISCORD_TOKEN")
    sender = await open_sender(discord_config)
    with pytest.raises(PermanentDeliveryError, match="DONORBOT_DISCORD_TOKEN"):
        await sender.send(target(discord_config, "general"), bulletin(["Hello"]), "k")
    await sender.close()
