"""Running ``donorbot`` as a maintainer's machine does: separate processes on one real ledger."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import load_config
from bot.core import Core
from bot.ledger.models import NewDonation

KEY_ENV = "DONORBOT_OUTBOX_TEST_KEY"
KEY = "outbox-test-key-0123456789abcdef"
TITLE = "Donor Friends – Monthly News"  # the bulletin's title, as text or as Markdown


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, KEY_ENV: KEY, "PYTHONUNBUFFERED": "1", **extra}


def console_project(
    folder: Path,
    *,
    extra: str = "",
    targets: str | None = None,
    schedule: str = 'cron = "0 10 1 1 *"\ncatch_up_days = 1',
) -> Path:
    """A config with one console target whose charts go to ``folder/charts``; nothing scheduled soon."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    console = f'[[targets]]\nname = "console"\nplatform = "console"\noutput_dir = "{folder / "charts"}"\n'
    config.write_text(
        f"""[project]
name = "Donor Friends"
timezone = "Europe/Paris"
base_currency = "EUR"
data_dir = "{folder / "data"}"

[ledger]
pseudonym_key_env = "{KEY_ENV}"

[schedule]
{schedule}

[webhooks]
port = 0
{extra}
{console if targets is None else targets}
""",
        encoding="utf-8",
    )
    return config


def seed(config: Path, months: tuple[tuple[int, int], ...] = ((2026, 9), (2026, 10))) -> None:
    """A few donations in each of ``months``."""
    os.environ[KEY_ENV] = KEY
    donations = [
        NewDonation(
            source="manual",
            external_id=f"{year}-{month}-{n}",
            amount=1000 + n,
            currency="EUR",
            received_at=datetime(year, month, 3 + n, 12, tzinfo=UTC),
            donor_id=f"manual:donor-{n}",
        )
        for year, month in months
        for n in range(4)
    ]

    async def write() -> None:
        core = await Core.open(load_config(config))
        try:
            await core.ledger.write(donations)
        finally:
            await core.close()

    asyncio.run(write())


def donorbot(
    config: Path, *args: str, timeout: float = 180, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    options: dict[str, Any] = {"capture_output": True, "text": True, "check": False, "timeout": timeout}
    options.update(kwargs)
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args], env=environment(), **options
    )


def spawn(config: Path, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    options.update(kwargs)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), *args], env=environment(), **options
    )


def deliveries(config: Path) -> dict[tuple[str, int, str], tuple[str, int, str | None]]:
    """(kind, month, target) -> (state, attempts, last_error), read straight from the file."""
    ledger = load_config(config).ledger_path
    with sqlite3.connect(ledger) as db:
        rows = db.execute(
            "SELECT kind, month, target, state, attempts, last_error FROM deliveries"
        ).fetchall()
    return {(k, m, t): (s, a, e) for k, m, t, s, a, e in rows}
