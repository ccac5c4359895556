"""Concurrent writes are grouped into shared transactions, each answered with its own result."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.ledger.models import NewDonation, RefundEvent
from bot.ledger.store import Ledger

KEY = b"group-commit-key-0123456789"


def donation(n: int) -> NewDonation:
    return NewDonation(
        source="kofi", external_id=f"k{n}", amount=100 + n, currency="EUR",
        received_at=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=n), donor_id=f"kofi:{n % 7}",
    )  # fmt: skip


async def test_concurrent_writes_each_get_their_own_result(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = await Ledger.open(path, ZoneInfo("Europe/Paris"), KEY)
    try:
        writes = [ledger.write([donation(n % 60)]) for n in range(100)]  # 40 redeliveries
        writes.append(ledger.write([RefundEvent(source="kofi", external_id="k3")]))
        results = await asyncio.gather(*writes)
        bad = NewDonation(
            source="kofi", external_id="late", amount=10**15, currency="EUR",
            received_at=datetime(2026, 3, 1, tzinfo=UTC),
        )  # fmt: skip
        with pytest.raises(ValueError, match="out of range"):
            await ledger.write([bad])
    finally:
        await ledger.close()
    assert sum(r.inserted for r in results) == 60
    assert sum(r.duplicates for r in results) == 40
    assert all(r.inserted + r.duplicates == 1 for r in results[:100])
    assert results[100].refunds_applied + results[100].refunds_pending == 1
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM donations").fetchone()[0] == 60
        assert db.execute("SELECT donations FROM month_stats WHERE month = 202603").fetchone()[0] == 59
