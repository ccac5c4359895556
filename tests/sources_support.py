"""Shared by the import, webhook and privacy tests: a config in tmp_path, the CLI, the SQLite file."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import datetime
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


def github_json_export(path: Path) -> Path:
    """A GitHub Sponsors CSV export's charges as the dashboard's JSON export writes them (an
    array of sponsorships, each with its transactions), beside it as ``.json``."""
    sponsorships: dict[str, dict[str, Any]] = {}
    for row in csv.DictReader(path.open(encoding="utf-8")):
        sponsorship = sponsorships.setdefault(row["Sponsor Handle"], {
            "sponsor_handle": row["Sponsor Handle"], "sponsor_profile_name": row["Sponsor Profile Name"] or None,
            "sponsor_public_email": None, "sponsorship_started_on": row["Sponsorship Started On"],
            "is_public": row["Is Public?"] == "true", "is_yearly": row["Is Yearly?"] == "true",
            "transactions": [], "payment_source": "github", "metadata": {},
        })  # fmt: skip
        date = row["Transaction Date"].replace(" UTC", " +0000")
        when = datetime.strptime(date, "%Y-%m-%d %H:%M:%S %z")
        sponsorship["transactions"].append({
            "transaction_id": row["Transaction ID"], "tier_name": row["Tier Name"],
            "tier_monthly_amount": row["Tier Monthly Amount"], "processed_amount": row["Processed Amount"],
            "is_prorated": row["Is Prorated?"] == "true", "status": row["Status"],
            "transaction_date": when.isoformat(timespec="milliseconds"),
            "billing_country": row["Country"], "billing_region": None, "vat": None,
        })  # fmt: skip
    target = path.with_suffix(".json")
    target.write_text(json.dumps(list(sponsorships.values())), encoding="utf-8")
    return target
