"""pytest fixtures: a running emulator, and a real config file pointing donorbot at it.

Test modules load them with ``pytest_plugins = ["tests.discord_emulator.fixtures"]``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Config, load_config
from tests.discord_emulator.server import DiscordEmulator

__all__ = ["TOKEN_ENV", "discord_config", "emulator", "write_config"]

TOKEN_ENV = "DONORBOT_DISCORD_TOKEN"


@pytest.fixture
async def emulator(caplog: pytest.LogCaptureFixture) -> AsyncIterator[DiscordEmulator]:
    """A started emulator; the test fails if discord.py logged an error (a payload it could not parse)."""
    caplog.set_level(logging.INFO)
    emu = DiscordEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.close()
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.split(".")[0] == "discord"
    ]
    assert not errors, "discord.py logged errors:\n" + "\n".join(errors)


def write_config(
    path: Path,
    emu: DiscordEmulator,
    *,
    guilds: bool = True,
    gateway_url: bool = False,
    admin_role: int | None = None,
    extra: str = "",
) -> Path:
    """A config.toml with two Discord targets: ``general`` (en) and ``annonces`` (fr, role, publish)."""
    world = emu.world
    lines = [
        "[project]",
        'name = "Donor Friends"',
        'timezone = "Europe/Paris"',
        'locale = "en"',
        'base_currency = "EUR"',
        'donate_urls = ["https://example.org/donate"]',
        f'data_dir = "{path.parent / "data"}"',
        "",
        "[ledger]",
        'pseudonym_key_env = "DONORBOT_TEST_PSEUDONYM_KEY"',
        "",
        "[discord]",
        f'token_env = "{TOKEN_ENV}"',
        f'api_base = "{emu.api_base}"',
    ]
    if gateway_url:
        lines.append(f'gateway_url = "{emu.gateway_url}"')
    if guilds:
        lines.append(f"guilds = [{world.guild.id}]")
    if admin_role is not None:
        lines.append(f"admin_role = {admin_role}")
    lines += [
        "",
        "[[targets]]",
        'name = "general"',
        'platform = "discord"',
        f"channel_id = {world.general.id}",
        'locale = "en"',
        "",
        "[[targets]]",
        'name = "annonces"',
        'platform = "discord"',
        f"channel_id = {world.announcements.id}",
        'locale = "fr"',
        f"mention_role = {world.supporters.id}",
        "publish = true",
        "",
        extra,
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def discord_config(tmp_path: Path, emulator: DiscordEmulator, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv(TOKEN_ENV, emulator.world.token)
    monkeypatch.setenv("DONORBOT_TEST_PSEUDONYM_KEY", "k" * 32)
    return load_config(write_config(tmp_path / "config.toml", emulator))
