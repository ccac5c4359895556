"""Each pull source's state in the ledger: cursor, last attempt and success, last error, counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.ledger.store import Ledger

__all__ = ["SourceState", "load_state", "load_states", "record_failure", "record_success"]


@dataclass(frozen=True, slots=True)
class SourceState:
    source: str  # the config key (opencollective, stripe, github_sponsors)
    cursor: str | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    syncs: int = 0
    failures: int = 0
    stored: int = 0  # donations stored by syncs, in all

    def to_json(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "source": self.source,
            "cursor": self.cursor,
            "last_attempt": iso(self.last_attempt),
            "last_success": iso(self.last_success),
            "last_error": self.last_error,
            "syncs": self.syncs,
            "failures": self.failures,
            "stored": self.stored,
        }


def _when(stamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None


_COLUMNS = "source, cursor, last_attempt, last_success, last_error, syncs, failures, stored"


def _state(row: Any) -> SourceState:
    source, cursor, attempt, success, error, syncs, failures, stored = row
    return SourceState(source, cursor, _when(attempt), _when(success), error, syncs, failures, stored)


async def load_states(ledger: Ledger) -> dict[str, SourceState]:
    rows = await ledger.query(f"SELECT {_COLUMNS} FROM sync_sources ORDER BY source")
    return {row[0]: _state(row) for row in rows}


async def load_state(ledger: Ledger, source: str) -> SourceState:
    rows = await ledger.query(f"SELECT {_COLUMNS} FROM sync_sources WHERE source = ?", (source,))
    return _state(rows[0]) if rows else SourceState(source)


async def record_success(ledger: Ledger, source: str, cursor: str | None, stored: int, now: datetime) -> None:
    """After a batch committed: the new cursor, the time, no error."""
    stamp = int(now.timestamp())
    async with ledger.writing() as db:
        await db.execute(
            "INSERT INTO sync_sources (source, cursor, last_attempt, last_success, last_error, syncs, stored)"
            " VALUES (?1, ?2, ?3, ?3, NULL, 1, ?4) ON CONFLICT (source) DO UPDATE SET"
            " cursor = coalesce(?2, cursor), last_attempt = ?3, last_success = ?3, last_error = NULL,"
            " syncs = syncs + 1, stored = stored + ?4",
            (source, cursor, stamp, stored),
        )


async def record_failure(ledger: Ledger, source: str, error: str, now: datetime) -> None:
    """A failed sync: its error and time; the cursor stays where the last success left it."""
    stamp = int(now.timestamp())
    async with ledger.writing() as db:
        await db.execute(
            "INSERT INTO sync_sources (source, last_attempt, last_error, failures) VALUES (?1, ?2, ?3, 1)"
            " ON CONFLICT (source) DO UPDATE SET last_attempt = ?2, last_error = ?3, failures = failures + 1",
            (source, stamp, error[:1000]),
        )
