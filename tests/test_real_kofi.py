"""Ko-fi: a real transactions export (scrubbed; see tests/fixtures/README.md), month by month.

The real file writes its times month first to the minute (``06/24/2025 22:48``), calls a
one-off donation ``Tip``, and quotes every cell but the first of its header.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sources_support import FIXTURES, KEY, KEY_ENV, cli, query, write_config
from test_import_kofi import HOOKS, post_through_serve

REAL = FIXTURES / "kofi" / "real" / "transactions-nuvio.csv"
ZONE = "America/Los_Angeles"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, KEY)
    return write_config(tmp_path, HOOKS, timezone=ZONE)


def expected() -> dict[str, dict[str, Any]]:
    """Month (in the project's zone) -> donations, donors (emails), USD total: computed here."""
    months: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"donations": 0, "donors": set(), "total": Decimal(0)}
    )
    with REAL.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            assert row["TransactionType"] == "Tip"
            when = datetime.strptime(row["DateTime (UTC)"], "%m/%d/%Y %H:%M").replace(tzinfo=UTC)
            local = when.astimezone(ZoneInfo(ZONE))
            month = months[f"{local.year}-{local.month:02d}"]
            month["donations"] += 1
            month["donors"].add(row["BuyerEmail"].lower())
            month["total"] += Decimal(row["Received"])
    return months


def test_each_month_equals_a_computation_from_the_file(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, config, "import", "kofi", str(REAL))
    assert code == 0, err
    assert "26 rows read" in out and "imported: 26" in out
    months = expected()
    assert len(months) >= 6
    for key, month in sorted(months.items()):
        code, out, err = cli(capsys, config, "stats", "--month", key, "--json")
        assert code == 0, err
        figures = json.loads(out)
        assert figures["donations"] == month["donations"], key
        assert figures["donors"] == len(month["donors"]), key
        assert figures["totals"] == {"USD": f"{month['total']:.2f}"}, key
        assert figures["public_donors_listed"] == 0, key  # the export never says who chose to be public
    # A supporter who gave twice (June and July, one email) is one donor, returning in July.
    code, out, err = cli(capsys, config, "stats", "--month", "2025-07", "--json")
    assert json.loads(out)["returning_donors"] == 1
    stored = query(config, "SELECT external_id, received_at, display_name, message FROM donations")
    first = next(row for row in stored if row[0] == "d23c58ab-8165-472f-9af5-af76b99fe196")
    assert first[1] == int(datetime(2025, 6, 24, 22, 48, tzinfo=UTC).timestamp())  # month first, UTC
    assert all(row[2] is None and row[3] is None for row in stored)


@pytest.mark.parametrize("webhook_first", [True, False], ids=["webhook-then-export", "export-then-webhook"])
async def test_a_real_tip_by_webhook_and_export_is_stored_once(
    config: Path, capsys: pytest.CaptureFixture[str], webhook_first: bool
) -> None:
    # The webhook Ko-fi sends for the export's first row: the same id, the time to the second.
    payload = {
        "verification_token": "kofi-verification-token-5f1c",
        "message_id": "0f7a1c52-9d0e-4c4b-a1b9-64f4e2a7b001",
        "timestamp": "2025-06-24T22:48:37Z",
        "type": "Donation",
        "is_public": True,
        "from_name": "Supporter A",
        "message": "Message 1",
        "amount": "10.00",
        "url": "https://ko-fi.com/Home/CoffeeShop?txid=d23c58ab-8165-472f-9af5-af76b99fe196",
        "email": "supporter1@example.com",
        "currency": "USD",
        "is_subscription_payment": False,
        "is_first_subscription_payment": False,
        "kofi_transaction_id": "d23c58ab-8165-472f-9af5-af76b99fe196",
        "shop_items": None,
        "tier_name": None,
        "shipping": None,
    }
    if webhook_first:
        await post_through_serve(config, payload)
    code, out, err = await asyncio.to_thread(cli, capsys, config, "import", "kofi", str(REAL))
    assert code == 0, err
    if not webhook_first:
        await post_through_serve(config, payload)
    assert query(config, "SELECT COUNT(*) FROM donations") == [(26,)]
    code, out, err = await asyncio.to_thread(cli, capsys, config, "stats", "--month", "2025-06", "--json")
    figures = json.loads(out)
    june = expected()["2025-06"]
    assert figures["donations"] == june["donations"] and figures["donors"] == len(june["donors"])
