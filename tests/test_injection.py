"""Hostile donor names, messages and news items pushed through every output.

Donations with hostile public names and messages are imported into a real ledger;
the bulletin, command replies and alerts built from them go out through the console
sender, to the Discord emulator (which computes who a message would really ping)
and as Matrix event content. Nothing executes, pings, links or breaks the layout.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.chat.commands import CommandService, Invocation
from bot.chat.console import ConsoleSender
from bot.chat.discord import open_sender
from bot.chat.errors import DeferredDeliveryError
from bot.chat.matrix.formatting import text_content
from bot.chat.message import Message
from bot.config import Config, ConsoleTarget, DiscordTarget
from bot.core import Core
from bot.ledger.models import NewDonation
from bot.months import Month
from tests.discord_emulator import DiscordEmulator

pytest_plugins = ["tests.discord_emulator.fixtures"]

MONTH = Month(2025, 12)
HOSTILE = [
    "@everyone",
    "@here look",
    "<@&123456789012345678> ping the role",
    "<@123456789012345678>",
    "@room alert",
    "[click me](javascript:alert(1))",
    "![img](https://evil.example/x.png)",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "**bold** __under__ `code` ~~strike~~ ||spoiler||",
    "# Heading\n- list\n> quote",
    "javascript:alert(document.cookie)",
    "https://phishing.example/login",
    "zero\u200bwidth\u200djoin\u2060ers",
    "right\u202eto\u202dleft override",
    "x" * 10_000,
    "line\nbreak\r\nand\ttab",
]
INVISIBLE = re.compile("[\u200b\u200c\u200d\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


@pytest.fixture
async def hostile_core(discord_config: Config, demo_ledger: Path) -> AsyncIterator[Core]:
    discord_config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_ledger, discord_config.ledger_path)
    news = discord_config.news_dir
    news.mkdir(parents=True, exist_ok=True)
    (news / f"{MONTH}.md").write_text("Our news, with a pasted @everyone and @here.\n", encoding="utf-8")
    core = await Core.open(discord_config)
    await core.ledger.write(
        NewDonation(
            source="hostile",
            external_id=f"h{i}",
            amount=10_000_000 - i,  # the largest gifts of the month: listed first
            currency="EUR",
            received_at=datetime(2025, 12, 20, tzinfo=UTC),
            donor_id=f"hostile:{i}",
            public=True,
            display_name=text,
            message=HOSTILE[-1 - i],
        )
        for i, text in enumerate(HOSTILE)
    )
    try:
        yield core
    finally:
        await core.close()


def check_plain(text: str) -> None:
    """Plain text (no Markdown is interpreted in it): no mention, no invisible character, no flood."""
    assert "@everyone" not in text and "@here" not in text and "@room" not in text
    assert not re.search(r"<@[&!]?\d", text), "Discord mention syntax is broken by a word joiner"
    assert not INVISIBLE.search(text), "zero-width and direction overrides are gone"
    assert "x" * 301 not in text, "a 10,000-character name or message is cut (64 and 300 characters)"


def check_markdown(text: str) -> None:
    """What chats receive as Markdown: plain-text rules, and donors' Markdown shown as typed."""
    check_plain(text)
    # The only link is the template's own donate link; a donor's brackets are escaped.
    assert not re.search(r"(?<!\\)\]\((?!https://example\.org/donate)", text), text
    assert "[img](" not in text
    assert "<script>" not in text and "<img " not in text
    assert not INVISIBLE.search(text), "zero-width and direction overrides are gone"
    assert "x" * 301 not in text, "a 10,000-character name or message is cut (64 and 300 characters)"
    assert "**bold**" not in text, "Markdown from a donor is shown as typed, not rendered"


def check_html(html: str) -> None:
    assert "<script" not in html and "onerror" not in html and "<img" not in html
    assert 'href="javascript' not in html.lower() and "href='javascript" not in html.lower()
    links = re.findall(r'href="([^"]*)"', html)
    assert all(link == "https://example.org/donate" for link in links), links
    assert "<strong>bold</strong>" not in html and "<code>code</code>" not in html
    assert "phishing.example/login</a>" not in html, "a donor's URL is not made a link"


async def outputs(core: Core) -> list[Message]:
    service = CommandService(core, now=lambda: datetime(2026, 1, 10, tzinfo=UTC))
    bulletin = await core.bulletin(MONTH, "en")
    french = await core.bulletin(MONTH, "fr")
    donors = (await service.handle(Invocation("donors", "2025-12"))).message
    thanks = core.renderer.reply(
        "thanks", "en", donation={"name": HOSTILE[0], "message": HOSTILE[5], "ordinal": 3}
    )
    return [bulletin, french, donors, thanks]


async def test_the_bulletin_and_replies_carry_hostile_text_inert(hostile_core: Core) -> None:
    messages = await outputs(hostile_core)
    bulletin = messages[0].markdown
    assert "Heading" in bulletin and "click me" in bulletin, "the donors are listed, defused"
    for message in messages:
        check_markdown(message.markdown)
        check_plain(message.text)
        check_html(message.html)
    lines = bulletin.splitlines()
    assert max(len(line) for line in lines) < 2000, "no line is blown up by a long name"


async def test_the_console_prints_inert_plain_text(hostile_core: Core) -> None:
    out = io.StringIO()
    sender = ConsoleSender(out)
    target = ConsoleTarget(name="c", platform="console")
    for message in await outputs(hostile_core):
        await sender.send(target, message.__class__(**{**_fields(message), "image": None}), "k")
    check_plain(out.getvalue())  # the console prints the plain-text rendering: marks show as typed


def _fields(message: Message) -> dict[str, object]:
    return {name: getattr(message, name) for name in message.__dataclass_fields__}


async def test_discord_payloads_ping_nobody_but_the_configured_role(
    hostile_core: Core, discord_config: Config, emulator: DiscordEmulator
) -> None:
    sender = await open_sender(discord_config)
    try:
        for name in ("general", "annonces"):
            target = discord_config.target(name)
            assert isinstance(target, DiscordTarget)
            for n, message in enumerate(await outputs(hostile_core)):
                # Posted even when the crosspost waits for Discord's hourly window.
                with contextlib.suppress(DeferredDeliveryError):
                    await sender.send(target, message, f"donorbot.test.{name}.{n}")
    finally:
        await sender.close()
    world = emulator.world
    channels = [world.general.id, world.announcements.id]
    threads = [t.id for c in channels for t in emulator.threads_of(c)]
    assert threads, "the long parts went to threads"
    for channel in channels + threads:
        for stored in emulator.sent(channel):
            payload = stored.request.json
            allowed = payload["allowed_mentions"]
            assert allowed.get("parse", []) == [] and not allowed.get("users")
            assert set(allowed.get("roles", [])) <= {world.supporters.id}
            answer = stored.payload  # what Discord would answer: who was really mentioned
            assert not answer.get("mention_everyone", False)
            assert [int(r) for r in answer.get("mention_roles", [])] in ([], [world.supporters.id])
            assert not answer.get("mentions", [])
            content = payload.get("content") or ""
            check_markdown(content.replace(f"<@&{world.supporters.id}>", ""))
            for embed in payload.get("embeds") or []:
                check_markdown(str(embed))


def test_matrix_content_mentions_nobody_and_its_html_is_safe() -> None:
    hostile_html = (
        '<p><a href="https://matrix.to/#/@room:example.org">@room</a> <a href="javascript:alert(1)">x</a>'
        '<script>alert(1)</script><img src="x" onerror="alert(1)"><a href="https://matrix.to/#/@alice:example.org">'
        "alice</a></p>"
    )
    content = text_content(Message(markdown="hello", text="hello", html=hostile_html))
    assert content["m.mentions"] == {}, "intentional mentions: none"
    html = content["formatted_body"]
    check_html(html)
    assert "matrix.to/#/@" not in html, "no pills"


async def test_matrix_content_of_the_hostile_bulletin(hostile_core: Core) -> None:
    for message in await outputs(hostile_core):
        content = text_content(message)
        check_plain(content["body"])  # body is the plain-text rendering: a donor's marks show as typed
        check_html(content.get("formatted_body", ""))
        assert content["m.mentions"] == {}
