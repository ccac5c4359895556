"""pytest fixtures: a running emulator, and a real config file pointing donorbot at it.

Test modules load them with ``pytest_plugins = ["tests.discord_emulator.fixtures"]``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.core import Core
from bot.demo import DEMO_KEY, demo_donations
from bot.months import Month
from tests.discord_emulator.configs import TOKEN_ENV, write_config
from tests.discord_emulator.server import DiscordEmulator

__all__ = ["DEMO_END", "core", "crowd_ledger", "demo_ledger", "discord_config", "emulator"]


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


@pytest.fixture
def discord_config(tmp_path: Path, emulator: DiscordEmulator, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv(TOKEN_ENV, emulator.world.token)
    monkeypatch.setenv("DONORBOT_TEST_PSEUDONYM_KEY", DEMO_KEY)
    return load_config(write_config(tmp_path / "config.toml", emulator))


# --- a real ledger --------------------------------------------------------------------------

DEMO_END = Month(2025, 12)


@pytest.fixture(scope="session")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger holding the demo's thirty months up to December 2025, built once per run."""
    folder = tmp_path_factory.mktemp("demo-ledger")
    (folder / "config.toml").write_text(
        f'[project]\nname = "Donor Friends"\ntimezone = "Europe/Paris"\ndata_dir = "{folder}"\n'
        '[ledger]\npseudonym_key_env = "DONORBOT_TEST_PSEUDONYM_KEY"\n',
        encoding="utf-8",
    )

    async def build() -> Path:
        config = load_config(folder / "config.toml")
        core = await Core.open(config)
        try:
            await core.ledger.write(demo_donations(DEMO_END))
        finally:
            await core.close()
        return config.ledger_path

    previous = os.environ.get("DONORBOT_TEST_PSEUDONYM_KEY")
    os.environ["DONORBOT_TEST_PSEUDONYM_KEY"] = DEMO_KEY
    try:
        return asyncio.run(build())
    finally:
        if previous is None:
            del os.environ["DONORBOT_TEST_PSEUDONYM_KEY"]
        else:
            os.environ["DONORBOT_TEST_PSEUDONYM_KEY"] = previous


@pytest.fixture
async def core(discord_config: Config, demo_ledger: Path) -> AsyncIterator[Core]:
    """A real Core over a copy of the demo ledger, configured for the emulator."""
    discord_config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_ledger, discord_config.ledger_path)
    opened = await Core.open(discord_config)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(scope="session")
def crowd_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger where every named donor left a long message (bulletins over 70 KB)."""
    from tests.crowd_support import build_crowd_ledger

    return build_crowd_ledger(
        tmp_path_factory.mktemp("crowd-ledger"), DEMO_END, "DONORBOT_TEST_PSEUDONYM_KEY"
    )
