"""The ledger's payment-id contract: aliases, reconciliation without a shared id, keyed ids."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ledger_checks import rollups, rollups_recomputed

from bot.ledger.ids import hash_keyed, keyed
from bot.ledger.migrations import MIGRATIONS
from bot.ledger.models import NewDonation, Reconcile, RefundEvent
from bot.ledger.store import Ledger

TZ = ZoneInfo("Europe/Paris")
KEY = b"a-test-pseudonym-key-of-32-bytes!"
WHEN = datetime(2024, 10, 31, 23, 30, tzinfo=UTC)


def gift(external_id: str, *aliases: str, amount: int = 500, **extra: object) -> NewDonation:
    return NewDonation(
        source="opencollective",
        external_id=external_id,
        amount=amount,
        currency="USD",
        received_at=extra.pop("when", WHEN),  # type: ignore[arg-type]
        donor_id="opencollective:alice",
        aliases=aliases,
        **extra,  # type: ignore[arg-type]
    )


async def stored(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT external_id, status FROM donations ORDER BY id"))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "arrivals",
    [
        # (external id, aliases) as three routes know one payment, in several orders
        [("d3f98b95", ("legacy:1234567", "group:f2238225")), ("legacy:1234567", ("group:f2238225",))],
        [("legacy:1234567", ("group:f2238225",)), ("d3f98b95", ("legacy:1234567", "group:f2238225"))],
        [("legacy:1234567", ("group:f2238225",)), ("d3f98b95", ("group:f2238225",)), ("d3f98b95", ())],
        [("d3f98b95", ()), ("legacy:1234567", ("d3f98b95",)), ("legacy:1234567", ()), ("d3f98b95", ())],
    ],
)
async def test_one_payment_is_stored_once_whatever_id_arrives_first(
    tmp_path: Path, arrivals: list[tuple[str, tuple[str, ...]]]
) -> None:
    path = tmp_path / "l.sqlite3"
    async with await Ledger.open(path, TZ, KEY) as ledger:
        results = [await ledger.write([gift(external_id, *aliases)]) for external_id, aliases in arrivals]
    assert [r.inserted for r in results] == [1] + [0] * (len(arrivals) - 1)
    assert [r.duplicates for r in results] == [0] + [1] * (len(arrivals) - 1)
    assert len(await stored(path)) == 1
    assert rollups(path) == rollups_recomputed(path)


@pytest.mark.asyncio
async def test_a_refund_may_name_any_alias_before_or_after_its_donation(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    async with await Ledger.open(path, TZ, KEY) as ledger:
        early = await ledger.write([RefundEvent("opencollective", "legacy:42")])
        assert early.refunds_pending == 1
        await ledger.write([gift("aaaa0001", "legacy:42")])
        await ledger.write([gift("aaaa0002", "legacy:43")])
        late = await ledger.write([RefundEvent("opencollective", "legacy:43")])
        assert late.refunds_applied == 1
        # A refund kept under an id the ledger learns later (a second route adds it).
        await ledger.write([gift("aaaa0003", amount=700)])
        await ledger.write([RefundEvent("opencollective", "legacy:44")])
        learned = await ledger.write([gift("legacy:44", "aaaa0003", amount=700)])
        assert learned.duplicates == 1 and learned.refunds_applied == 1
        size = await ledger.size()
    assert await stored(path) == [
        ("aaaa0001", "refunded"),
        ("aaaa0002", "refunded"),
        ("aaaa0003", "refunded"),
    ]
    assert size["refunds_pending"] == 0
    assert rollups(path) == rollups_recomputed(path)


def sponsorship(external_id: str, route: str, when: datetime, amount: int = 500) -> NewDonation:
    return NewDonation(
        source="github-sponsors",
        external_id=external_id,
        amount=amount,
        currency="USD",
        received_at=when,
        donor_id="github:octocat",
        reconcile=Reconcile(route, int(timedelta(days=2).total_seconds())),
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("webhook_first", [True, False])
async def test_routes_sharing_no_id_reconcile_on_donor_amount_and_time(
    tmp_path: Path, webhook_first: bool
) -> None:
    path = tmp_path / "l.sqlite3"
    created = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    hook = sponsorship("S_kwDOAAAA", "webhook", created)
    charges = [
        sponsorship("ch_1", "csv", created + timedelta(seconds=11)),
        sponsorship("ch_2", "csv", created + timedelta(days=31)),  # next month's charge: its own
        sponsorship("ch_3", "csv", created + timedelta(hours=1), amount=2500),  # another amount
    ]
    async with await Ledger.open(path, TZ, KEY) as ledger:
        for batch in ([hook], charges) if webhook_first else (charges, [hook]):
            await ledger.write(batch)
        again = await ledger.write([*charges, hook])  # each route again: all known by id now
        # A second webhook for another sponsorship cannot take a charge already matched.
        other = await ledger.write([sponsorship("S_kwDOBBBB", "webhook", created + timedelta(hours=2))])
    assert again.inserted == 0 and again.duplicates == 4
    assert other.inserted == 1
    ids = [external_id for external_id, _ in await stored(path)]
    assert len(ids) == 4 and ("S_kwDOAAAA" in ids) != ("ch_1" in ids)
    assert rollups(path) == rollups_recomputed(path)


@pytest.mark.asyncio
async def test_keyed_ids_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    item = NewDonation(
        source="liberapay",
        external_id=keyed("918273645:2026-11-02"),
        amount=100,
        currency="EUR",
        received_at=WHEN,
        donor_id="liberapay:918273645",
    )
    async with await Ledger.open(path, TZ, KEY) as ledger:
        assert (await ledger.write([item])).inserted == 1
        assert (await ledger.write([item])).duplicates == 1
        refund = await ledger.write([RefundEvent("liberapay", keyed("918273645:2026-11-02"))])
        assert refund.refunds_applied == 1
    assert await stored(path) == [(hash_keyed(KEY, "liberapay", "918273645:2026-11-02"), "refunded")]
    assert b"918273645" not in path.read_bytes()


@pytest.mark.asyncio
async def test_ids_stored_in_the_clear_by_earlier_versions_are_rehashed(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as db:
        for version, script in enumerate(MIGRATIONS[:7], start=1):
            db.executescript(f"BEGIN;{script};PRAGMA user_version = {version};COMMIT;")
        db.executescript(
            "INSERT INTO meta VALUES ('timezone', 'Europe/Paris');"
            "INSERT INTO donations (source, external_id, amount, currency, received_at, month) VALUES"
            " ('liberapay', '918273645:2026-11-02', 100, 'EUR', 1793577600, 202611),"
            " ('liberapay', 'secret:2026-01-01:2026-01-02:2026-11-02:1', 100, 'EUR', 1793577600, 202611),"
            " ('patreon', '5c1b2e4a-member-0001:2026-11-01T08:00:00.000+00:00', 500, 'EUR', 1793491200, 202611),"
            " ('github-sponsors', 'monalisa:2026-11-03T10:00:00Z', 500, 'USD', 1793700000, 202611),"
            " ('github-sponsors', 'S_kwDOnodeid', 500, 'USD', 1793700000, 202611);"
            "INSERT INTO pending_refunds VALUES ('patreon', '5c1b2e4a-member-0002:2026-10-01', 'refunded');"
        )
    async with await Ledger.open(path, TZ, KEY) as ledger:
        assert any("payment ids" in note for note in ledger.notes)
        again = await ledger.write(
            [
                NewDonation(
                    source="liberapay",
                    external_id=keyed("918273645:2026-11-02"),
                    amount=100,
                    currency="EUR",
                    received_at=datetime(2026, 11, 2, tzinfo=TZ),
                    donor_id="liberapay:918273645",
                )
            ]
        )
        assert again.duplicates == 1  # the same payment as before the upgrade
    data = path.read_bytes()
    for platform_id in (b"918273645", b"5c1b2e4a-member", b"monalisa"):
        assert platform_id not in data
    assert b"S_kwDOnodeid" in data and b"secret:2026-01-01" in data


@pytest.mark.asyncio
async def test_two_payments_whose_short_ids_collide_are_both_stored(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    later = WHEN + timedelta(days=200)
    first = gift("c0ffee00", "group:11111111", when=WHEN)
    other = gift("c0ffee00", "group:22222222", amount=900, when=later)  # 8 hex digits: a collision
    async with await Ledger.open(path, TZ, KEY) as ledger:
        assert (await ledger.write([first])).inserted == 1
        assert (await ledger.write([other])).inserted == 1
        again = await ledger.write([first, other])  # each found again, under its own ids
        assert (again.inserted, again.duplicates) == (0, 2)
        # A route that knows the first by its group only, days later (its clearing time).
        cleared = await ledger.write([gift("legacy:77", "group:11111111", when=WHEN + timedelta(days=2))])
        assert cleared.duplicates == 1
    assert sorted(await stored(path)) == [("c0ffee00", "succeeded"), ("c0ffee00+group:22222222", "succeeded")]
    assert rollups(path) == rollups_recomputed(path)
