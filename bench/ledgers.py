"""Synthetic ledgers for the benchmarks: fixed seed, realistic shapes.

Most donors give once or twice; a few percent give every month for a year or two
(recurring); amounts are mostly small with a heavy tail of large gifts; a fifth
are in dollars; a few percent are anonymous; some donors are public. About two
donations per donor, so 10,000,000 donations come from about 5,000,000 people.

Rows go straight into SQLite through the real schema (``bot.ledger.migrations``),
in big transactions; the rollups are then rebuilt by the ledger itself on open,
exactly as after a schema upgrade.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.migrations import migrate
from bot.ledger.store import Ledger
from bot.months import Month

__all__ = ["FIRST", "LAST", "build_ledger", "donations", "write_csv"]

TZ = ZoneInfo("Europe/Paris")
LAST = Month(2026, 10)
FIRST = LAST.shift(-59)  # five years of history
_SMALL = (300, 500, 500, 1000, 1000, 1000, 1500, 2000, 2500, 5000)


def _month_start(month: Month) -> int:
    return int(month.start(TZ).timestamp())


def donations(count: int, seed: int = 42) -> Iterator[tuple[object, ...]]:
    """``count`` rows: (external_id, donor_key, name, amount, currency, received_at, month, recurring)."""
    rng = random.Random(seed)
    months = [FIRST.shift(i) for i in range(60)]
    starts = [_month_start(m) for m in months] + [_month_start(LAST.next())]
    made = 0
    donor = 0
    while made < count:
        donor += 1
        key = (
            None if rng.random() < 0.03 else hashlib.blake2b(str(donor).encode(), digest_size=16).hexdigest()
        )
        name = f"Donor {donor}" if key is not None and rng.random() < 0.05 else None
        if key is not None and rng.random() < 0.065:
            first = rng.randrange(60)
            chosen = range(first, min(60, first + rng.randint(6, 24)))
            recurring = 1
            base = rng.choice(_SMALL)
        else:
            gifts = 1 if key is None or rng.random() < 0.9 else rng.randint(2, 3)
            chosen = sorted(rng.sample(range(60), gifts))
            recurring = 0
            base = 0
        currency = "USD" if rng.random() < 0.2 else "EUR"
        for index in chosen:
            if made == count:
                break
            amount = base or rng.choice(_SMALL)
            if rng.random() < 0.001:
                amount = rng.randint(500, 50_000) * 100  # the heavy tail
            at = rng.randrange(starts[index], starts[index + 1])
            yield (f"b{made}", key, name, amount, currency, at, months[index].key, recurring)
            made += 1


def build_ledger(path: Path, count: int, seed: int = 42) -> float:
    """Create ``path`` with ``count`` donations (skipped if it already holds them); seconds taken."""
    started = time.perf_counter()
    if path.exists():
        with sqlite3.connect(path) as db:
            try:
                have = db.execute("SELECT count(*) FROM donations").fetchone()[0]
            except sqlite3.Error:
                have = -1
        if have == count:
            return 0.0
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -400000")
    migrate(db)
    db.execute("BEGIN")
    batch: list[tuple[object, ...]] = []
    sql = (
        "INSERT INTO donations (source, external_id, donor_key, display_name, amount, currency,"
        " received_at, month, recurring) VALUES ('bench', ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    for row in donations(count, seed):
        batch.append(row)
        if len(batch) == 200_000:
            db.executemany(sql, batch)
            batch.clear()
    db.executemany(sql, batch)
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('timezone', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (TZ.key,),
    )
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('rollups', 'stale') ON CONFLICT (key) DO UPDATE SET value = 'stale'"
    )
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()

    async def rebuild() -> None:
        ledger = await Ledger.open(path, TZ)  # sees the stale rollups and rebuilds them
        await ledger.close()

    asyncio.run(rebuild())
    with sqlite3.connect(path) as db:
        db.execute("ANALYZE")
    return time.perf_counter() - started


def write_csv(path: Path, count: int, seed: int = 7) -> Path:
    """A native donorbot CSV of ``count`` rows (for the import benchmarks), written once."""
    if path.exists() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write("id,date,amount,currency,donor,name,public,recurring\n")
        for external_id, key, name, amount, currency, at, _month, recurring in donations(count, seed):
            when = datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[call-overload]
            public = "true" if name else "false"
            out.write(
                f"{external_id},{when},{int(amount) / 100:.2f},{currency},{key or ''},{name or ''},{public},"  # type: ignore[call-overload]
                f"{'true' if recurring else 'false'}\n"
            )
    tmp.rename(path)
    return path
