"""The slash-command bot over the gateway and REST, against a real Core and the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.chat.commands import CommandService, Invocation, PublishOutcome, Reply
from bot.chat.discord import DiscordBot
from bot.chat.message import Message
from bot.config import Config, load_config
from bot.core import Core
from bot.delivery import deliver
from bot.months import Month
from tests.discord_emulator import DiscordEmulator, InteractionRecord
from tests.discord_emulator.configs import write_config

pytest_plugins = ["tests.discord_emulator.fixtures"]

EPHEMERAL = 64
# The demo ledger ends in December 2025: "now" is early January 2026.
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

StartBot = Callable[..., Awaitable[DiscordBot]]


@pytest.fixture
async def start_bot() -> AsyncIterator[StartBot]:
    """Start DiscordBots (closed after the test), waiting for the gateway's READY."""
    bots: list[DiscordBot] = []

    async def start(config: Config, handler: object, **options: object) -> DiscordBot:
        bot = DiscordBot(config, handler, guild_ready_timeout=0.2, **options)  # type: ignore[arg-type]
        bots.append(bot)
        await bot.start()
        await asyncio.wait_for(bot.wait_ready(), 10)
        return bot

    yield start
    for bot in bots:
        await bot.close()


def service(core: Core, bot_box: list[DiscordBot] | None = None) -> CommandService:
    """The real command service; ``news post`` publishes through the bot's own sender."""

    async def publish(month: Month, names: Collection[str] | None = None) -> list[PublishOutcome]:
        assert bot_box, "the bot is not started"
        targets = [
            t for t in core.config.targets if t.platform == "discord" and (names is None or t.name in names)
        ]
        return await deliver(core, {"discord": bot_box[0].sender()}, month, targets)

    return CommandService(core, publish=publish, now=lambda: NOW)


@pytest.fixture
async def bot(start_bot: StartBot, discord_config: Config, core: Core) -> DiscordBot:
    box: list[DiscordBot] = []
    started = await start_bot(discord_config, service(core, box))
    box.append(started)
    return started


async def answered(
    emulator: DiscordEmulator, record: InteractionRecord, messages: int = 1
) -> InteractionRecord:
    await emulator.until(lambda: len(record.messages) >= messages)
    assert not record.rejected
    return record


# --- connection and command sync -------------------------------------------------------------


async def test_commands_are_synced_to_the_guild_with_french_names(
    bot: DiscordBot, emulator: DiscordEmulator
) -> None:
    guild = emulator.world.guild.id
    commands = {c["name"]: c for c in emulator.commands[guild]}
    assert None not in emulator.commands, "configured guilds: nothing is synced globally"
    assert set(commands) == {"donors", "goal", "milestones", "donate", "news", "help"}
    donors = commands["donors"]
    assert donors["name_localizations"]["fr"] == "donateurs"
    assert donors["description_localizations"]["fr"] == "Combien de personnes ont donné dans un mois"
    [month] = donors["options"]
    assert (month["name"], month["type"], month.get("required", False)) == ("month", 3, False)
    assert month["name_localizations"]["fr"] == "mois"
    news = commands["news"]
    assert news["name_localizations"]["fr"] == "nouvelles"
    subcommands = {o["name"]: o for o in news["options"]}
    assert subcommands["preview"]["name_localizations"]["fr"] == "aperçu"
    assert subcommands["post"]["name_localizations"]["fr"] == "publier"
    assert bot.synced[guild] == list(commands)


async def test_gateway_session_uses_zlib_stream_and_no_privileged_intent(
    bot: DiscordBot, emulator: DiscordEmulator
) -> None:
    [conn] = emulator.gateway_connections
    assert conn.compress
    [session] = emulator.sessions.values()
    assert session.identify["intents"] == 1  # guilds only
    assert emulator.calls("GET", r"^/gateway/bot$"), "the gateway URL comes from the REST API"
    assert emulator.heartbeats >= 1


async def test_global_sync_when_no_guild_is_configured_and_explicit_gateway_url(
    start_bot: StartBot,
    emulator: DiscordEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    core: Core,
) -> None:
    monkeypatch.setenv("DONORBOT_DISCORD_TOKEN", emulator.world.token)
    config = load_config(write_config(tmp_path / "global.toml", emulator, guilds=False, gateway_url=True))

    await start_bot(config, service(core))

    assert {c["name"] for c in emulator.commands[None]} >= {"donors", "news"}
    assert emulator.world.guild.id not in emulator.commands
    assert not emulator.calls("GET", r"^/gateway/bot$")
    record = await emulator.interact("donate")
    await answered(emulator, record)
    assert "https://example.org/donate" in record.text


async def test_a_dropped_gateway_is_resumed_and_commands_still_answered(
    bot: DiscordBot, emulator: DiscordEmulator
) -> None:
    [session] = emulator.sessions.values()
    await emulator.drop_gateway(4000)
    await emulator.until(lambda: bool(emulator.resumes) and session.connection is not None)

    assert emulator.resumes[0]["session_id"] == session.id
    assert emulator.resumes[0]["seq"] == 2  # READY and GUILD_CREATE were seen
    record = await emulator.interact("donors", {"month": "2025-12"})
    await answered(emulator, record)
    assert "1,092" in record.text


# --- replies and their language -------------------------------------------------------------


async def test_donors_answers_in_english_without_deferring(
    bot: DiscordBot, emulator: DiscordEmulator
) -> None:
    record = await emulator.interact("donors", {"month": "2025-12"}, locale="en-US")
    await answered(emulator, record)

    assert record.callback_type == 4
    assert record.callback_delay is not None and record.callback_delay < 3
    assert "1,092" in record.text and "people gave" in record.text
    assert record.bodies[0]["allowed_mentions"] == {"parse": []}
    assert not record.messages[0]["flags"] & EPHEMERAL


async def test_a_french_user_gets_french(bot: DiscordBot, emulator: DiscordEmulator) -> None:
    record = await emulator.interact("donors", {"month": "2025-12"}, locale="fr")
    await answered(emulator, record)

    assert "1\u202f092" in record.text and "personnes ont donné" in record.text


async def test_other_languages_get_the_channel_target_language(
    bot: DiscordBot, emulator: DiscordEmulator
) -> None:
    world = emulator.world
    in_french_channel = await emulator.interact("donate", locale="ja", channel_id=world.announcements.id)
    in_english_channel = await emulator.interact("donate", locale="ja", channel_id=world.general.id)
    await answered(emulator, in_french_channel)
    await answered(emulator, in_english_channel)

    assert "soutenir" in in_french_channel.text
    assert "support" in in_english_channel.text


async def test_goal_reply_attaches_the_goal_picture(
    start_bot: StartBot,
    emulator: DiscordEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    core: Core,
) -> None:
    monkeypatch.setenv("DONORBOT_DISCORD_TOKEN", emulator.world.token)
    goal = '[[goals]]\nname = "server"\ntitle = "A new build server"\namount = "150000"\n'
    goal += "start = 2025-10-01\nend = 2026-01-31\n"
    config = load_config(write_config(tmp_path / "goal.toml", emulator, extra=goal))
    goal_core = Core(config, core.ledger, core.renderer.__class__(config))

    await start_bot(config, service(goal_core))
    record = await emulator.interact("goal")
    await answered(emulator, record)

    assert "A new build server" in record.text
    [attachment] = record.messages[0]["attachments"]
    assert attachment["content_type"] == "image/png"
    [file] = record.files[record.messages[0]["id"]]
    assert file.data.startswith(b"\x89PNG")


async def test_bad_month_is_refused_privately(bot: DiscordBot, emulator: DiscordEmulator) -> None:
    record = await emulator.interact("donors", {"month": "December"})
    await answered(emulator, record)

    assert record.messages[0]["flags"] & EPHEMERAL
    assert "December" in record.text


# --- news preview and news post ---------------------------------------------------------------


async def test_news_preview_is_deferred_private_split_and_carries_the_chart(
    bot: DiscordBot, emulator: DiscordEmulator
) -> None:
    record = await emulator.interact(
        "news preview", {"month": "2025-12"}, locale="fr", user=emulator.world.admin
    )
    await emulator.until(lambda: record.callback is not None)
    assert record.callback_type == 5
    assert record.callback is not None and record.callback["data"]["flags"] == EPHEMERAL
    await emulator.until(lambda: len(record.messages) >= 4)

    assert all(m["flags"] & EPHEMERAL for m in record.messages)
    assert all(len(m["content"]) <= 2000 for m in record.messages)
    assert "Nouvelles mensuelles" in record.messages[0]["content"]
    assert record.messages[0]["attachments"], "the chart rides on the first part"
    assert not any(m["attachments"] for m in record.messages[1:])
    assert not any(emulator.sent(c.id) for c in emulator.world.guild.channels), "a preview posts nothing"


async def test_news_preview_is_for_admins_and_one_a_minute(
    bot: DiscordBot, emulator: DiscordEmulator
) -> None:
    member = await emulator.interact("news preview", {"month": "2025-12"}, user=emulator.world.member)
    await answered(emulator, member)
    assert member.messages[0]["flags"] & EPHEMERAL and "is for the community's admins" in member.text

    first = await emulator.interact("news preview", {"month": "2025-12"}, user=emulator.world.admin)
    await emulator.until(lambda: len(first.messages) >= 2)
    second = await emulator.interact("news preview", {"month": "2025-12"}, user=emulator.world.admin)
    await answered(emulator, second)
    assert "try again in a minute" in second.text and len(second.messages) == 1
    assert all(m["flags"] & EPHEMERAL for m in [*first.messages, *second.messages])
    assert not any(emulator.sent(c.id) for c in emulator.world.guild.channels), "a preview posts nothing"


async def test_the_news_group_is_hidden_from_members_until_admins_say_otherwise(
    bot: DiscordBot, emulator: DiscordEmulator
) -> None:
    synced = {c["name"]: c for c in emulator.commands[emulator.world.guild.id]}
    assert int(synced["news"]["default_member_permissions"]) == 1 << 5, "Manage Server"
    [put] = [r for r in emulator.calls("PUT", r"/guilds/\d+/commands$")]
    [news] = [c for c in put.json if c["name"] == "news"]
    assert news.get("contexts") == [0] or news.get("dm_permission") is False, "servers only"
    members = {name for name, c in synced.items() if c["default_member_permissions"] is None}
    assert members == {"donors", "goal", "milestones", "donate", "help"}


async def test_news_post_is_refused_to_members(bot: DiscordBot, emulator: DiscordEmulator) -> None:
    record = await emulator.interact("news post", {"month": "2025-12"}, user=emulator.world.member)
    await answered(emulator, record)

    assert record.callback_type == 5
    assert record.messages[0]["flags"] & EPHEMERAL
    assert "is for the community's admins" in record.text
    assert not any(emulator.sent(c.id) for c in emulator.world.guild.channels)


async def test_news_post_by_a_server_manager_posts_once_to_every_discord_target(
    bot: DiscordBot, emulator: DiscordEmulator
) -> None:
    world = emulator.world
    record = await emulator.interact("news post", {"month": "2025-12"}, user=world.admin)
    await answered(emulator, record)

    assert "general: sent" in record.text and "annonces: sent" in record.text
    general, annonces = emulator.sent(world.general.id), emulator.sent(world.announcements.id)
    assert general and "Monthly News" in general[0].content
    assert annonces and annonces[0].content.startswith(
        f"<@&{world.supporters.id}>\n# Donor Friends – Nouvelles mensuelles"
    )
    assert all(m.payload["flags"] & 1 for m in annonces), "announcements are published"

    again = await emulator.interact("news post", {"month": "2025-12"}, user=world.admin)
    await answered(emulator, again)
    assert "general: already sent" in again.text
    assert len(emulator.sent(world.general.id)) == len(general)


async def test_news_post_refuses_a_month_that_has_not_ended(
    bot: DiscordBot, emulator: DiscordEmulator
) -> None:
    world = emulator.world
    record = await emulator.interact("news post", {"month": "2026-01"}, user=world.admin)  # NOW is in January
    await answered(emulator, record)
    assert "has not ended yet" in record.text and "--unfinished" in record.text, record.text
    assert not emulator.sent(world.general.id) and not emulator.sent(world.announcements.id)


async def test_the_configured_admin_role_may_post_and_others_may_not(
    start_bot: StartBot,
    emulator: DiscordEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    core: Core,
) -> None:
    world = emulator.world
    monkeypatch.setenv("DONORBOT_DISCORD_TOKEN", world.token)
    config = load_config(write_config(tmp_path / "role.toml", emulator, admin_role=world.treasurers.id))
    box: list[DiscordBot] = []
    box.append(await start_bot(config, service(Core(config, core.ledger, core.renderer), box)))

    member = await emulator.interact("news post", {"month": "2025-12"}, user=world.member)
    treasurer = await emulator.interact("news post", {"month": "2025-12"}, user=world.treasurer)
    await answered(emulator, member)
    await answered(emulator, treasurer)

    assert "admins" in member.text
    assert "general: sent" in treasurer.text


async def test_nobody_is_an_admin_in_direct_messages(
    start_bot: StartBot,
    emulator: DiscordEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    core: Core,
) -> None:
    monkeypatch.setenv("DONORBOT_DISCORD_TOKEN", emulator.world.token)
    # Commands synced to a server only are not offered in direct messages: sync globally.
    config = load_config(write_config(tmp_path / "global.toml", emulator, guilds=False))
    await start_bot(config, service(core))

    record = await emulator.interact("news post", user=emulator.world.owner, in_dm=True)
    await answered(emulator, record)

    assert "admins" in record.text


# --- deadlines and failures, with a stand-in handler -----------------------------------------


class SlowHandler:
    """Answers once the test lets it: shows what the bot does while a handler works."""

    def __init__(self, reply: Reply | None = None, error: Exception | None = None) -> None:
        self.release = asyncio.Event()
        self.seen: list[Invocation] = []
        self.reply = reply or Reply(Message(markdown="Done.", text="Done.", html=""))
        self.error = error

    async def handle(self, inv: Invocation) -> Reply:
        self.seen.append(inv)
        await self.release.wait()
        if self.error:
            raise self.error
        return self.reply


async def test_a_slow_handler_is_deferred_before_the_deadline_then_followed_up(
    start_bot: StartBot, discord_config: Config, emulator: DiscordEmulator
) -> None:
    handler = SlowHandler()
    await start_bot(discord_config, handler, defer_after=0.3)

    record = await emulator.interact("donors", locale="fr")
    await emulator.until(lambda: record.callback is not None)
    assert record.callback_type == 5
    assert record.callback_delay is not None and 0.3 <= record.callback_delay < 3
    assert record.messages == [], "still thinking"
    handler.release.set()
    await answered(emulator, record)

    assert record.text == "Done."
    [inv] = handler.seen
    assert (inv.command, inv.argument, inv.locale, inv.is_admin) == ("donors", None, "fr", False)
    assert inv.target is not None and inv.target.name == "general"


async def test_a_failing_handler_gets_a_private_apology(
    start_bot: StartBot, discord_config: Config, emulator: DiscordEmulator
) -> None:
    handler = SlowHandler(error=RuntimeError("database on fire"))
    handler.release.set()
    await start_bot(discord_config, handler)

    record = await emulator.interact("milestones", user=emulator.world.admin)
    await answered(emulator, record)

    assert record.messages[0]["flags"] & EPHEMERAL
    assert "something went wrong" in record.text
    assert "database on fire" not in record.text
    assert handler.seen[0].is_admin


async def test_a_long_reply_is_sent_as_a_response_and_follow_ups(
    start_bot: StartBot, discord_config: Config, emulator: DiscordEmulator
) -> None:
    paragraphs = tuple(f"Line {n}: " + "merci " * 60 for n in range(12))
    markdown = "\n\n".join(paragraphs)
    handler = SlowHandler(Reply(Message(markdown=markdown, text=markdown, html="", paragraphs=paragraphs)))
    handler.release.set()
    await start_bot(discord_config, handler)

    record = await emulator.interact("help")
    await answered(emulator, record, messages=3)

    assert record.callback_type == 4
    assert len(record.followups) == len(record.messages) - 1 >= 2
    assert "\n\n".join(m["content"] for m in record.messages) == markdown
