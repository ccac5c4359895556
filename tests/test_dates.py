"""One range of valid donation dates (bot/dates.py), kept by every parser and by the ledger.

Before 2 January 1970 or more than a day ahead of the clock: a webhook answers 400 (see
test_fuzz_webhooks.test_out_of_range_values_are_400_not_500), an import gives a row error
naming file, line and column, and the ledger refuses it on any other route.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_core_cli import donorbot, project, write_csv

from bot.dates import CLOCK_SKEW, EARLIEST, date_problem
from bot.ledger.models import NewDonation
from bot.ledger.store import Ledger
from bot.sources.webhooks.common import Malformed, as_time

NOW = time.time()
IN_2080 = "2080-01-01T00:00:00+00:00"


def test_the_range_and_its_edges() -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    assert date_problem(EARLIEST) is None
    assert date_problem(EARLIEST - timedelta(seconds=1)) == "is before 2 January 1970"
    assert date_problem(now + CLOCK_SKEW - timedelta(seconds=5), NOW) is None
    assert "in the future" in (date_problem(now + CLOCK_SKEW + timedelta(seconds=5), NOW) or "")
    assert "in the future" in (date_problem(datetime(2080, 1, 1, tzinfo=UTC)) or "")
    assert date_problem(datetime(2026, 1, 1)) == "has no time zone"


@pytest.mark.parametrize(
    "value", [0, "0", 86_399, "1970-01-01T23:59:59Z", IN_2080, 3_471_292_800, "3471292800"]
)
def test_a_webhook_date_outside_the_range_is_malformed(value: object) -> None:
    with pytest.raises(Malformed) as caught:
        as_time(value, "data.date")
    assert str(caught.value).startswith("data.date: ")


async def test_the_ledger_refuses_a_donation_dated_in_the_future(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3", ZoneInfo("UTC"), b"k" * 32)
    try:
        future = NewDonation("t", "far", 500, "EUR", datetime(2080, 1, 1, tzinfo=UTC))
        with pytest.raises(ValueError, match=r"t:far: date 2080-01-01 .* in the future"):
            await ledger.write([future])
        early = NewDonation("t", "early", 500, "EUR", datetime(1970, 1, 1, 12, tzinfo=UTC))
        with pytest.raises(ValueError, match="before 2 January 1970"):
            await ledger.write([early])
        assert (await ledger.query("SELECT count(*) FROM donations"))[0][0] == 0
    finally:
        await ledger.close()


def _stored(config: Path) -> list[str]:
    with sqlite3.connect(config.parent / "data" / "donorbot.sqlite3") as db:
        return sorted(r[0] for r in db.execute("SELECT external_id FROM donations"))


def test_an_import_row_dated_2080_is_a_row_error_and_never_stored(tmp_path: Path) -> None:
    config = project(tmp_path)
    rows = [
        "a,2026-01-05T10:00:00Z,500,EUR,,,,",
        "b,2080-01-01,500,EUR,,,,",  # a bare date: the careful path
        "c,2080-01-01T10:00:00Z,500,EUR,,,,",  # a full time: the fast path
    ]
    csv = write_csv(tmp_path / "d.csv", rows)
    done = donorbot(config, "import", "csv", str(csv))
    assert done.returncode != 0
    assert f"{csv}:3: date: '2080-01-01' is in the future" in done.stderr, done.stderr
    assert f"{csv}:4: date: '2080-01-01T10:00:00Z' is in the future" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "donorbot.sqlite3").exists() or _stored(config) == []
    done = donorbot(config, "import", "--skip-invalid", "csv", str(csv))
    assert done.returncode == 0, done.stderr
    assert _stored(config) == ["a"]


def test_a_platform_export_row_dated_in_the_future_is_a_row_error(tmp_path: Path) -> None:
    config = project(tmp_path)
    content = (Path(__file__).parent / "fixtures" / "liberapay" / "patrons.csv").read_bytes()
    assert b"2024-01-03," in content
    export = tmp_path / "liberapay.csv"
    export.write_bytes(content.replace(b"2024-01-03,", b"2080-01-03,", 1))
    done = donorbot(config, "import", "liberapay", str(export))
    assert done.returncode != 0
    assert str(export) in done.stderr and "in the future" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("date", [0, IN_2080])
def test_a_helloasso_order_dated_0_or_2080_is_malformed_not_a_ledger_error(date: object) -> None:
    # The case that made CI fail at random: a date of 0 passed the parser, the ledger refused it.
    import json

    from bot.sources.webhooks import helloasso

    order = {
        "eventType": "Order",
        "data": {"items": [{"type": "Donation", "amount": 1500}], "id": 9307923, "date": date},
    }
    with pytest.raises(Malformed, match=r"^data\.date: "):
        helloasso.parse(json.dumps(order).encode(), {})
