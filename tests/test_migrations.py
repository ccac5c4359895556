"""Schema migrations: from an empty file and from every earlier version, data kept, rollups right."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.ledger.migrations import LATEST, migrate, schema_version
from bot.ledger.store import Ledger, LedgerError
from bot.months import Month

PARIS = ZoneInfo("Europe/Paris")
ROWS = [
    # external id, donor key, name, amount, currency, received at, status
    ("a", "k1", "Ann", 1000, "EUR", datetime(2026, 1, 31, 23, 30, tzinfo=UTC), "succeeded"),
    ("b", "k2", None, 2000, "USD", datetime(2026, 1, 10, tzinfo=UTC), "succeeded"),
    ("c", None, None, 500, "EUR", datetime(2026, 1, 11, tzinfo=UTC), "succeeded"),
    ("d", "k1", None, 700, "EUR", datetime(2026, 1, 12, tzinfo=UTC), "refunded"),
]


def old_ledger(path: Path, version: int) -> None:
    """A ledger as donorbot left it at ``version``: that schema and some donations."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        assert migrate(db, upto=version) == list(range(1, version + 1))
        for external_id, key, name, amount, currency, at, status in ROWS:
            month = Month(at.astimezone(PARIS).year, at.astimezone(PARIS).month).key
            db.execute(
                "INSERT INTO donations (source, external_id, donor_key, display_name, amount, currency,"
                " received_at, month, status) VALUES ('old', ?, ?, ?, ?, ?, ?, ?, ?)",
                (external_id, key, name, amount, currency, int(at.timestamp()), month, status),
            )
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('timezone', 'Europe/Paris')")
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rollups', 'stale')")
    finally:
        db.close()


@pytest.mark.parametrize("version", range(0, LATEST + 1))
def test_a_ledger_of_every_version_opens_upgraded_with_its_donations(tmp_path: Path, version: int) -> None:
    path = tmp_path / "ledger.sqlite3"
    if version:
        old_ledger(path, version)

    async def open_it() -> None:
        ledger = await Ledger.open(path, PARIS)
        try:
            months = {row.month: row for row in await ledger.months()}
            if version:
                assert set(months) == {202601, 202602}
                assert months[202601].donations == 2 and months[202601].anonymous == 1
                assert months[202602].donations == 1, "23:30 UTC on 31 January is February in Paris"
                assert await ledger.totals_by_month(202602) == {
                    202601: {"USD": 2000, "EUR": 500},
                    202602: {"EUR": 1000},
                }
            else:
                assert months == {}
        finally:
            await ledger.close()

    asyncio.run(open_it())
    with sqlite3.connect(path) as db:
        assert schema_version(db) == LATEST
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM donations").fetchone()[0] == (len(ROWS) if version else 0)


def test_a_ledger_from_a_newer_donorbot_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    old_ledger(path, LATEST)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises((LedgerError, RuntimeError), match="newer"):
        asyncio.run(Ledger.open(path, PARIS))
    with sqlite3.connect(path) as db:
        assert schema_version(db) == LATEST + 1
