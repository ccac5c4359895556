"""Small things members notice: the chart's alt text, copyable links, quiet library logs."""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import pytest

from bot.announcements import BULLETIN, message_for
from bot.config import LoggingSettings, load_config
from bot.core import Core
from bot.demo import DEMO_KEY
from bot.logs import setup_logging
from bot.months import Month

pytest_plugins = ["tests.discord_emulator.fixtures"]


async def demo_core(tmp_path: Path, ledger: Path) -> Core:
    (tmp_path / "config.toml").write_text(
        '[project]\nname = "Donor Friends"\ntimezone = "Europe/Paris"\ndata_dir = "data"\n'
        'donate_urls = ["https://example.org/donate"]\n'
        '[ledger]\npseudonym_key_env = "DONORBOT_TEST_PSEUDONYM_KEY"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path / "config.toml")
    config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ledger, config.ledger_path)
    return await Core.open(config)


async def test_the_charts_alt_text_counts_new_donors_as_the_bulletin_does(
    tmp_path: Path, demo_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DONORBOT_TEST_PSEUDONYM_KEY", DEMO_KEY)
    core = await demo_core(tmp_path, demo_ledger)
    try:
        report = await core.report(Month(2025, 12))
        message = await message_for(core, BULLETIN, Month(2025, 12), "en")
    finally:
        await core.close()

    assert report.anonymous > 0, "a month with anonymous donations: where the two counts differed"
    new = f"{report.new_donors:,}"
    assert f"{new} of you gave for the very first time" in message.markdown
    assert message.image is not None
    assert f"{new} of them new" in message.image.alt, message.image.alt


async def test_the_donate_links_label_has_no_invisible_character(
    tmp_path: Path, demo_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.chat.commands import CommandService, Invocation

    monkeypatch.setenv("DONORBOT_TEST_PSEUDONYM_KEY", DEMO_KEY)
    core = await demo_core(tmp_path, demo_ledger)
    try:
        reply = await CommandService(core).handle(Invocation("donate"))
    finally:
        await core.close()

    assert "[https://example.org/donate](https://example.org/donate)" in reply.message.markdown
    assert "\u2060" not in reply.message.markdown and "\u2060" not in reply.message.text


@pytest.mark.parametrize(("level", "libraries"), [("INFO", logging.WARNING), ("DEBUG", logging.DEBUG)])
def test_library_loggers_say_only_warnings_when_donorbot_is_at_info(level: str, libraries: int) -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        setup_logging(LoggingSettings(level=level), io.StringIO())  # type: ignore[arg-type]
        for name in ("nio", "discord", "discord.client", "apscheduler"):
            assert logging.getLogger(name).getEffectiveLevel() == libraries, name
        # Those that log request details (payloads, SQL parameters) never go below INFO.
        for name in ("nio.rooms", "discord.http", "aiosqlite"):
            assert logging.getLogger(name).getEffectiveLevel() == max(logging.INFO, libraries), name
        assert logging.getLogger("bot.app").getEffectiveLevel() == getattr(logging, level)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name in ("aiosqlite", "discord", "discord.http", "discord.gateway", "nio", "nio.rooms",
                     "nio.responses", "nio.http", "apscheduler", "matplotlib", "PIL", "markdown_it"):  # fmt: skip
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_no_voice_warning_and_no_guilds_intent_warning_from_a_sender(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import discord

    import bot.chat.discord.sender  # noqa: F401  (what donorbot imports)

    with caplog.at_level(logging.WARNING, logger="discord"):
        discord.Client(intents=discord.Intents(guilds=True))
    assert "voice will NOT be supported" not in caplog.text
    assert "Guilds intent seems to be disabled" not in caplog.text
