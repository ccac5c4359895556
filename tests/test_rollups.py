"""The rollups always equal a full recomputation from the raw donations.

Random sequences of imports (with duplicates), refunds (before and after their
donation), forgets, re-imports and time-zone changes run against a real SQLite
ledger; after each sequence the maintained rollups are compared with the ones a
rebuild computes from scratch, and goal figures with a plain query.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ledger.models import DonorKind, NewDonation, RefundEvent, Status
from bot.ledger.store import Ledger

KEY = b"rollup-test-key-0123456789"
ZONES = [ZoneInfo("Europe/Paris"), ZoneInfo("UTC"), ZoneInfo("Pacific/Auckland")]
ROLLUPS = ("donor_months", "donors", "month_stats", "month_totals", "month_amounts")
START = datetime(2025, 11, 28, tzinfo=UTC)  # months, and a year, change within the window

donation = st.builds(
    lambda n, donor, hours, amount, currency, recurring, org: NewDonation(
        source="test",
        external_id=f"d{n}",
        amount=amount,
        currency=currency,
        received_at=START + timedelta(hours=hours),
        donor_id=None if donor is None else f"test:{donor}",
        recurring=recurring,
        kind=DonorKind.ORGANISATION if org else DonorKind.PERSON,
    ),
    st.integers(0, 40),
    st.none() | st.integers(0, 8),
    st.integers(0, 24 * 70),
    st.integers(1, 100_000),
    st.sampled_from(["EUR", "USD"]),
    st.booleans(),
    st.booleans(),
)
operation = st.one_of(
    st.tuples(st.just("write"), st.lists(donation, min_size=1, max_size=8)),
    st.tuples(st.just("refund"), st.integers(0, 40), st.sampled_from([Status.REFUNDED, Status.DISPUTED])),
    st.tuples(st.just("forget"), st.integers(0, 8)),
    st.tuples(st.just("zone"), st.integers(0, len(ZONES) - 1)),
)


def snapshot(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        return {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall()) for table in ROLLUPS}


async def play(folder: Path, operations: list[tuple[object, ...]]) -> None:
    path = folder / "ledger.sqlite3"
    zone = ZONES[0]
    ledger = await Ledger.open(path, zone, KEY)
    try:
        for op in operations:
            if op[0] == "write":
                await ledger.write(op[1])  # type: ignore[arg-type]
            elif op[0] == "refund":
                await ledger.write([RefundEvent(source="test", external_id=f"d{op[1]}", status=op[2])])  # type: ignore[arg-type]
            elif op[0] == "forget":
                await ledger.forget(f"test:{op[1]}")
            else:
                await ledger.close()
                zone = ZONES[op[1]]  # type: ignore[index]
                ledger = await Ledger.open(path, zone, KEY)

        maintained = snapshot(path)
        # Goal figures over a window cutting months at odd days, against a plain query.
        lo, hi = START + timedelta(days=3, hours=5), START + timedelta(days=50, hours=7)
        amounts, donors = await ledger.period_figures(lo, hi)
        with sqlite3.connect(path) as db:
            where = "status = 'succeeded' AND received_at >= ? AND received_at < ?"
            span = (int(lo.timestamp()), int(hi.timestamp()))
            plain = dict(
                db.execute(
                    f"SELECT currency, sum(amount) FROM donations WHERE {where} GROUP BY currency", span
                ).fetchall()
            )
            people = db.execute(
                f"SELECT count(DISTINCT coalesce(donor_key, 'anonymous:' || id)) FROM donations WHERE {where}",
                span,
            ).fetchone()[0]
        assert amounts == plain
        assert donors == people

        await ledger.rebuild_rollups()
        assert snapshot(path) == maintained, "maintained rollups differ from a recomputation"
    finally:
        await ledger.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=12))
def test_rollups_equal_a_recomputation_after_any_sequence(operations: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(play(Path(folder), operations))
