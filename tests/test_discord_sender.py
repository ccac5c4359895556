"""Posting bulletins to Discord over REST, checked on what the emulator really received."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.chat.discord import DiscordSender, open_sender
from bot.chat.discord.nonce import nonce_for
from bot.chat.errors import DeferredDeliveryError, PermanentDeliveryError, TransientDeliveryError
from bot.chat.message import Image, Message
from bot.chat.sender import MemoryParts
from bot.config import Config, DiscordTarget
from bot.core import Core
from bot.delivery import RetryPolicy, deliver_message
from bot.months import Month
from tests.discord_emulator import DiscordEmulator
from tests.discord_emulator.server import StoredMessage
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


def thread_of(emulator: DiscordEmulator, channel_id: int) -> list[StoredMessage]:
    [thread] = emulator.threads_of(channel_id)
    return emulator.sent(thread.id)


async def test_a_long_bulletin_is_one_announcement_published_once_and_a_thread_for_the_rest(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    paragraphs = [f"Paragraph {n}: " + " ".join(["donation"] * 20) for n in range(40)]
    image = Image("goal.png", tiny_png(), 3, 2, alt="Goal progress")
    key = "donorbot.annonces.2025-12.0"
    world = emulator.world

    ids = await sender.send(target(discord_config, "annonces"), bulletin(paragraphs, image), key)

    [announcement] = emulator.sent(world.announcements.id)
    [thread] = emulator.threads_of(world.announcements.id)
    assert thread.id == announcement.id and thread.type == 10, "an announcement thread on the message"
    assert 1 <= len(thread.name) <= 100
    follow = thread_of(emulator, world.announcements.id)
    assert ids == [str(announcement.id), *(str(m.id) for m in follow)]
    assert len(follow) >= 2
    assert all(len(m.content) <= 2000 for m in [announcement, *follow])
    role = f"<@&{world.supporters.id}>\n"
    assert announcement.content.startswith(role)
    assert not any(role in m.content for m in follow), "the role is pinged once"
    rebuilt = "\n\n".join(m.content for m in [announcement, *follow]).removeprefix(role)
    assert rebuilt == "\n\n".join(paragraphs), "paragraphs were cut or reordered"
    assert len(announcement.files) == 1 and not any(m.files for m in follow)
    assert announcement.payload["flags"] & 1, "the announcement is published"
    assert len(emulator.calls("POST", r"/crosspost$")) == 1, "and only it: one crosspost per bulletin"


async def test_a_bulletin_with_sections_puts_the_headline_first_and_the_long_parts_in_the_thread(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    from bot.news.render import Renderer

    renderer = Renderer(discord_config)
    thanks = "merci " * 40
    donors = "\n".join(f"- €5.00 (1st donation), Person {n}: “{thanks}”" for n in range(120))
    markdown = (
        "# Donor Friends – Monthly News – January 2026\n\n1,092 people gave in December.\n\n"
        "## Our goals\n\n**A new server**: 75 %.\n\n## News\n\n### Version 3\n\nIt is out.\n\n"
        f"## Donations\n\nA total of €5,000.00, among them:\n\n{donors}\n\nThank you!"
    )
    message = renderer.message(markdown, title="Donor Friends – Monthly News – January 2026")

    await sender.send(target(discord_config, "general"), message, "donorbot.general.2026-01.0")

    [announcement] = emulator.sent(emulator.world.general.id)
    assert announcement.content.startswith("# Donor Friends") and "## Our goals" in announcement.content
    assert "## News" not in announcement.content and "Person 0" not in announcement.content
    follow = thread_of(emulator, emulator.world.general.id)
    assert follow[0].content.startswith("## News")
    assert all(len(m.content) <= 2000 for m in follow)
    text = "\n".join(m.content for m in follow)
    assert all(f"Person {n}:" in text for n in range(120)), "every donor is there"
    assert [t.name for t in emulator.threads_of(emulator.world.general.id)] == [message.title]


async def test_a_huge_paragraph_is_cut_between_words(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    words = [f"word{n:04d}" for n in range(700)]  # ~6,300 characters, no blank line
    await sender.send(target(discord_config, "general"), bulletin([" ".join(words)]), "k")

    posted = emulator.sent(emulator.world.general.id) + thread_of(emulator, emulator.world.general.id)
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
    assert len(emulator.sent(emulator.world.general.id)) == 1
    assert len(thread_of(emulator, emulator.world.general.id)) == 1
    assert len(emulator.calls("POST", MESSAGES)) == 4
    assert [r.status for r in emulator.calls("POST", r"/threads$")] == [201, 400], "one thread, kept"

    other = await sender.send(general, message, "donorbot.general.2025-12.1")
    assert set(other).isdisjoint(first)
    assert len(emulator.sent(emulator.world.general.id)) == 2


async def test_a_resend_with_the_outbox_parts_posts_only_what_is_missing(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    message = bulletin([f"Part {n}. " + "word " * 300 for n in range(4)])
    general = target(discord_config, "general")
    parts = MemoryParts()
    first = await sender.send(general, message, "donorbot.general.2025-12.0", parts)
    assert set(parts.done) == {"0", "thread", "thread.0", "thread.1", "thread.2"}
    calls = len(emulator.requests)

    again = await sender.send(general, message, "donorbot.general.2025-12.0", parts)

    assert again == first and len(emulator.requests) == calls, "nothing sent: every part was recorded"


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


async def test_a_long_rate_limit_is_deferred_to_the_next_sweep_with_its_window(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    emulator.fail_next(1, 429, retry_after=3600, method="POST", path=MESSAGES)

    with pytest.raises(DeferredDeliveryError, match="3600 s"):
        await sender.send(target(discord_config, "general"), bulletin(["Hello"]), "k")

    assert len(emulator.calls("POST", MESSAGES)) == 1, "not waited out, not retried at once"
    assert emulator.sent(emulator.world.general.id) == []


async def test_server_errors_are_retried_by_one_layer_only(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    general = target(discord_config, "general")
    emulator.fail_next(1, 503, method="POST", path=MESSAGES)
    with pytest.raises(DeferredDeliveryError, match="503"):
        await sender.send(general, bulletin(["Hello"]), "k")

    emulator.fail_next(1, 500, method="POST", path=MESSAGES)
    await sender.send(general, bulletin(["Hello"]), "k")
    assert [r.status for r in emulator.calls("POST", MESSAGES)] == [503, 500, 200]
    assert len(emulator.sent(emulator.world.general.id)) == 1


async def test_a_persistent_500_gives_five_posts_then_waits_for_the_next_sweep(
    core: Core, discord_config: Config, emulator: DiscordEmulator
) -> None:
    emulator.fail_next(100, 500, method="POST", path=MESSAGES)
    sender = await open_sender(discord_config)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    try:
        outcome = await deliver_message(
            core, sender, target(discord_config, "general"), Month(2025, 12),
            lambda: _hello(), policy=RetryPolicy(sleep=sleep),
        )  # fmt: skip
    finally:
        await sender.close()

    assert outcome.state == "pending" and "500" in outcome.detail
    assert len(emulator.calls("POST", MESSAGES)) == 5, "discord.py's five tries, not 5 x 5"
    assert sleeps == [], "delivery does not retry on top of discord.py"


async def _hello() -> Message:
    return bulletin(["Hello"])


async def send_once(
    config: Config, message: Message, key: str, parts: MemoryParts | None = None
) -> list[str]:
    """One ``donorbot post``: its own login, hence discord.py's rate-limit buckets start empty."""
    sender = await open_sender(config)
    try:
        return await sender.send(target(config, "annonces"), message, key, parts)
    finally:
        await sender.close()


async def test_the_crosspost_limit_is_never_exceeded_and_what_waits_is_deferred_then_published(
    discord_config: Config, emulator: DiscordEmulator
) -> None:
    channel = emulator.world.announcements.id
    for month in range(1, 11):  # ten bulletins (or alerts) in one hour: the whole budget
        await send_once(discord_config, bulletin([f"Month {month}"]), f"donorbot.annonces.2025-{month:02d}.0")
    parts = MemoryParts()
    eleventh = bulletin(["Month 11", "More " * 500])

    with pytest.raises(DeferredDeliveryError, match="crosspost limit") as caught:
        await send_once(discord_config, eleventh, "donorbot.annonces.2025-11.x", parts)

    assert "s from now" in str(caught.value)
    posted = emulator.sent(channel)[-1]
    assert posted.content.startswith(f"<@&{emulator.world.supporters.id}>\nMonth 11"), "posted anyway"
    assert not posted.payload["flags"] & 1, "but not published"
    assert set(parts.done) == {"0", "thread", "thread.0", "thread.1"}, "everything but the crosspost is done"
    statuses = [r.status for r in emulator.calls("POST", r"/crosspost$")]
    assert statuses == [200] * 10 + [429], "Discord's limit: ten an hour, the eleventh refused"

    emulator.clock_offset += 3600  # an hour later, the sweep sends what is owed
    ids = await send_once(discord_config, eleventh, "donorbot.annonces.2025-11.x", parts)

    assert ids[0] == str(posted.id) and posted.payload["flags"] & 1, "published now"
    assert len(emulator.sent(channel)) == 11, "nothing posted twice"
    assert "crosspost" in parts.done


async def test_one_login_does_not_crosspost_again_while_discord_says_the_window_is_open(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    annonces = target(discord_config, "annonces")
    await sender.send(annonces, bulletin(["Alert"]), "donorbot.alert.annonces.1")

    with pytest.raises(DeferredDeliveryError, match="crosspost limit"):
        await sender.send(annonces, bulletin(["Bulletin"]), "donorbot.bulletin.annonces.1")

    # discord.py read the bucket's headers (an hour to reset) and asked nothing more of Discord.
    assert [r.status for r in emulator.calls("POST", r"/crosspost$")] == [200]


async def test_messages_and_embeds_over_discords_limits_are_refused_as_discord_does(
    emulator: DiscordEmulator,
) -> None:
    description = {"description": "x" * 4096}
    cases = {
        "content": {"content": "x" * 2001},
        "description": {"embeds": [{"description": "x" * 4097}]},
        "title": {"embeds": [{"title": "x" * 257}]},
        "field": {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
        "fields": {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
        "total": {"embeds": [description, {"description": "y" * 1905}]},
        "count": {"embeds": [{"description": "x"}] * 11},
    }
    url = f"{emulator.api_base}/channels/{emulator.world.general.id}/messages"
    headers = {"Authorization": f"Bot {emulator.world.token}"}
    answers = {}
    async with aiohttp.ClientSession() as session:
        for name, body in cases.items():
            async with session.post(url, json=body, headers=headers) as response:
                answers[name] = (response.status, await response.json())
        async with session.post(
            url, json={"embeds": [description, {"description": "y" * 1904}]}, headers=headers
        ) as ok:
            fits = (ok.status, await ok.json())

    assert all(status == 400 and body["code"] == 50035 for status, body in answers.values()), answers
    errors = {name: json.dumps(body["errors"]) for name, (_, body) in answers.items()}
    assert "2000 or fewer" in errors["content"] and "4096 or fewer" in errors["description"]
    assert "256 or fewer" in errors["title"] and "1024 or fewer" in errors["field"]
    assert "25 or fewer" in errors["fields"] and "MAX_EMBED_SIZE_EXCEEDED" in errors["total"]
    assert "10 or fewer" in errors["count"]
    assert fits[0] == 200 and len(fits[1]["embeds"]) == 2, "6,000 characters in all is allowed"


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


async def test_an_attachment_goes_along_in_the_thread(
    sender: DiscordSender, discord_config: Config, emulator: DiscordEmulator
) -> None:
    from bot.chat.message import Attachment

    listing = Attachment("donors-2025-12.txt", b"Person 1\nPerson 2\n", "text/plain", "Everyone named")
    message = bulletin(["Hello donors."])
    message = Message(
        **{**{f: getattr(message, f) for f in message.__dataclass_fields__}, "attachments": (listing,)}
    )
    parts = MemoryParts()

    ids = await sender.send(target(discord_config, "general"), message, "donorbot.general.2025-12.0", parts)

    [announcement] = emulator.sent(emulator.world.general.id)
    [file_message] = thread_of(emulator, emulator.world.general.id)
    assert ids == [str(announcement.id), str(file_message.id)] and "file.0" in parts.done
    [sent] = file_message.files
    assert (sent.filename, sent.data) == ("donors-2025-12.txt", listing.data)
    assert file_message.payload["attachments"][0]["description"] == "Everyone named"
