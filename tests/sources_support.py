"""Shared by the import, webhook and privacy tests: a config in tmp_path, the CLI, the SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
KEY_ENV = "DONORBOT_PSEUDONYM_KEY"
KEY = "a-test-pseudonym-key-of-32-bytes!"


def write_config(directory: Path, webhooks: str = "", timezone: str = "Europe/Paris") -> Path:
    """A minimal valid configuration; the ledger lives in ``directory/data``."""
    config = directory / "config.toml"
    config.write_text(
        f'[project]\nname = "Test project"\ntimezone = "{timezone}"\ndata_dir = "data"\n\n{webhooks}',
        encoding="utf-8",
    )
    (directory / "data").mkdir(exist_ok=True)
    return config


def ledger_path(config: Path) -> Path:
    return config.parent / "data" / "donorbot.sqlite3"


def cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    """Run ``donorbot --config CONFIG ARGS...`` in this process; return (exit code, stdout, stderr)."""
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def query(config: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(ledger_path(config)) as db:
        return list(db.execute(sql, params))


def donations(config: Path, source: str) -> dict[str, tuple[Any, ...]]:
    """external_id -> (donor_key, display_name, message, amount, currency, received_at, recurring, kind, status)."""
    rows = query(
        config,
        "SELECT external_id, donor_key, display_name, message, amount, currency, received_at, recurring,"
        " kind, status FROM donations WHERE source = ?",
        (source,),
    )
    return {row[0]: row[1:] for row in rows}
