"""Shared by the sync tests: a fixture set of Open Collective transactions and its independent month figures."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.sources_support import cli, write_config
from tests.sync_fakes.opencollective import Account, FakeOpenCollective, Transaction


def uuid_of(n: int) -> str:
    """A uuid whose first 8 hex digits (the short id) differ for every n."""
    return (
        f"{n:08x}-{(n * 7919) % 65536:04x}-4{n % 4096:03x}-8{(n * 31) % 4096:03x}-{n * 104729 % 16**12:012x}"
    )


def fill_collective(fake: FakeOpenCollective, count: int, seed: int = 19) -> None:
    """``count`` contributions over September to November 2025, with what real collectives have:
    monthly donors, organisations, incognito and guest contributors, two currencies, refunds,
    and transactions that are not contributions."""
    rng = random.Random(seed)
    people = [Account(f"donor-{i}", f"Donor {i}") for i in range(count // 3 + 1)]
    orgs = [Account(f"acme-{i}", f"Acme {i} Ltd", type="ORGANIZATION") for i in range(5)]
    incognito = [Account(f"incognito-{i:04x}", "Incognito", is_incognito=True) for i in range(3)] + [
        Account(f"user-{i:08x}", "Incognito", is_incognito=True) for i in range(3)
    ]
    guests = [Account(f"guest-{i:08x}", f"Guest {i}") for i in range(4)]
    start = datetime(2025, 9, 1, tzinfo=UTC)
    span = int((datetime(2025, 12, 1, tzinfo=UTC) - start).total_seconds())
    for n in range(count):
        roll = rng.random()
        donor = (
            rng.choice(orgs) if roll < 0.05
            else rng.choice(incognito) if roll < 0.12
            else rng.choice(guests) if roll < 0.17
            else rng.choice(people)
        )  # fmt: skip
        when = start + timedelta(seconds=rng.randrange(span))
        if n < 4:  # a few on the last seconds of a month, where a cursor or a zone would cut them wrong
            when = datetime(2025, 10 + n % 2, 1, tzinfo=UTC) - timedelta(seconds=1 + n)
        cents = rng.choice((500, 1000, 2000, 2500, 5000, 10000, 333))
        fake.contribution(
            uuid_of(n + 1), when, cents, donor,
            currency="EUR" if rng.random() < 0.1 else "USD",
            frequency="MONTHLY" if rng.random() < 0.3 else "ONETIME",
        )  # fmt: skip
    contributions = list(fake.transactions)
    for i, original in enumerate(rng.sample(contributions, max(count // 50, 2))):
        fake.refund(
            original, uuid_of(900000 + i), original.created_at + timedelta(hours=rng.randrange(1, 200))
        )
    host = Account("opensource", "Open Source Collective", type="ORGANIZATION")
    for i in range(5):
        fake.other(
            uuid_of(800000 + i), start + timedelta(days=3 * i), -1234, host, type="DEBIT", kind="HOST_FEE"
        )
        fake.other(
            uuid_of(810000 + i), start + timedelta(days=5 * i), 4000, host, type="CREDIT", kind="ADDED_FUNDS"
        )
    # The collective itself contributing to another collective: a DEBIT contribution, not money in.
    fake.other(uuid_of(820000), start + timedelta(days=20), -5000, Account("friends", "Friends", type="COLLECTIVE"),
               type="DEBIT", kind="CONTRIBUTION")  # fmt: skip


def expected_months(transactions: list[Transaction]) -> dict[str, dict[str, Any]]:
    """Month (UTC) -> donations, donors, totals: computed from the fixture alone."""
    counted = [
        t for t in transactions
        if t.type == "CREDIT" and t.kind == "CONTRIBUTION" and not t.is_refund and t.refunded_by is None
    ]  # fmt: skip
    months: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"donations": 0, "donors": set(), "totals": defaultdict(int)}
    )
    for t in counted:
        month = months[t.created_at.strftime("%Y-%m")]
        month["donations"] += 1
        month["donors"].add(t.account.slug)
        month["totals"][t.currency] += t.cents
    return {
        key: {
            "donations": value["donations"],
            "donors": len(value["donors"]),
            "totals": {
                code: str(Decimal(cents).scaleb(-2)) for code, cents in sorted(value["totals"].items())
            },
        }
        for key, value in months.items()
    }


def month_figures(capsys: pytest.CaptureFixture[str], config: Path, month: str) -> dict[str, Any]:
    code, out, err = cli(capsys, config, "stats", "--month", month, "--json")
    assert code == 0, err
    report = json.loads(out)
    return {"donations": report["donations"], "donors": report["donors"], "totals": report["totals"]}


def oc_config(directory: Path, url: str, extra: str = "") -> Path:
    return write_config(
        directory,
        f'[sources.opencollective]\nslug = "donor-friends"\napi_url = "{url}/graphql/v2"\n{extra}',
        timezone="UTC",
    )
