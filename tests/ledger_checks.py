"""Looking into a ledger file from outside: its rows, its integrity, its rollups against a recomputation."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bot.ledger.rollups import APPLY_DELTA, CLEAR_ROLLUPS, PREPARE

__all__ = [
    "ROLLUP_TABLES",
    "donation_rows",
    "index_sql",
    "integrity",
    "rollups",
    "rollups_recomputed",
    "snapshot",
]

ROLLUP_TABLES = ("month_stats", "month_totals", "month_amounts", "donors", "donor_months")
_RECORD_TABLES = ("donations", "pending_refunds")


def _copy(path: Path) -> sqlite3.Connection:
    """An in-memory copy (the file itself may be read-only, or in use by a writer)."""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(":memory:", isolation_level=None)
        source.backup(copy)
    finally:
        source.close()
    return copy


def _table(db: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    return list(db.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3"))


def snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the record and rollup tables, ordered: two equal snapshots are the same ledger."""
    db = _copy(path)
    try:
        return {table: _table(db, table) for table in (*_RECORD_TABLES, *ROLLUP_TABLES)}
    finally:
        db.close()


def donation_rows(path: Path) -> list[tuple[Any, ...]]:
    return snapshot(path)["donations"]


def index_sql(path: Path) -> dict[str, str]:
    """The donations table's indexes (not the automatic one), their SQL with whitespace normalised."""
    db = _copy(path)
    try:
        found = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'donations' AND sql IS NOT NULL"
        ).fetchall()
    finally:
        db.close()
    return {name: " ".join(sql.split()) for name, sql in found}


def integrity(path: Path) -> str:
    db = _copy(path)
    try:
        return ", ".join(row[0] for row in db.execute("PRAGMA integrity_check"))
    finally:
        db.close()


def rollups(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    snap = snapshot(path)
    return {table: snap[table] for table in ROLLUP_TABLES}


def rollups_recomputed(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rollups recomputed from the donations alone, on a copy, by the other route.

    The ledger rebuilds rollups with set-based scans (``REBUILD``); this goes through the
    delta routine instead, every counted donation a +1, so the two check each other.
    """
    db = _copy(path)
    try:
        for statement in (
            *PREPARE,
            *CLEAR_ROLLUPS,
            "INSERT INTO temp.delta (id, sign) SELECT id, 1 FROM donations WHERE status = 'succeeded'",
            *APPLY_DELTA,
        ):
            db.execute(statement)
        return {table: _table(db, table) for table in ROLLUP_TABLES}
    finally:
        db.close()
