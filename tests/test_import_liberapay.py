"""Liberapay patrons export: derived payment ids, visibility, `donorbot import liberapay`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sources_support import FIXTURES, KEY, KEY_ENV, cli, donations, write_config

from bot.ledger.ids import hash_keyed, keyed
from bot.ledger.models import NewDonation
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.liberapay import LiberapayImporter

TZ = ZoneInfo("Europe/Paris")
EXPORT = FIXTURES / "liberapay" / "patrons.csv"


def parsed(path: Path) -> dict[str, NewDonation]:
    out = {}
    for row in LiberapayImporter().rows(path, TZ):
        if isinstance(row, Parsed):
            assert isinstance(row.item, NewDonation)
            out[row.item.external_id] = row.item
    return out


def test_each_paying_patron_is_one_donation_with_a_derived_id() -> None:
    items = parsed(EXPORT)
    assert sorted(items) == sorted(
        [
            keyed("1001:2024-01-03"),  # it embeds the patron's id: stored only as a keyed hash
            keyed("1002:2024-01-04"),
            keyed("1005:2022-06-01"),
            "secret:2023-12-01:2023-12-01:2023-12-01:1",
        ]
    )
    alice = items[keyed("1001:2024-01-03")]
    assert alice.amount == 5200  # paid once: sum_received exactly
    assert alice.received_at == datetime(2024, 1, 3, 12, tzinfo=UTC)  # a date of Liberapay's UTC clock
    assert alice.public and alice.display_name == "Alice L." and alice.recurring
    # Paid several times: sum_received less a week's pledge for each week the earlier payments covered.
    assert items[keyed("1002:2024-01-04")].amount == 26000 - 250 * 52


def test_visibility_decides_names_and_identity() -> None:
    items = parsed(EXPORT)
    bob = items[keyed("1002:2024-01-04")]
    assert not bob.public and bob.display_name is None and bob.donor_id == "liberapay:1002"
    secret = items["secret:2023-12-01:2023-12-01:2023-12-01:1"]
    assert secret.donor_id is None and not secret.public and secret.currency == "USD"


def test_unpaid_pledges_are_skipped_and_bad_visibility_is_an_error() -> None:
    rows = list(LiberapayImporter().rows(EXPORT, TZ))
    assert [(r.line, r.reason) for r in rows if isinstance(r, Skipped)] == [
        (5, "pledged but has not paid yet")
    ]
    errors = [
        r
        for r in LiberapayImporter().rows(FIXTURES / "liberapay" / "bad_visibility.csv", TZ)
        if isinstance(r, RowError)
    ]
    assert [e.describe("x") for e in errors] == [
        "x:3: visibility: 'friends' is not public, private or secret"
    ]


def test_the_id_is_stable_and_a_new_payment_makes_a_new_donation(tmp_path: Path) -> None:
    first = parsed(EXPORT)
    assert parsed(EXPORT) == first
    later = tmp_path / "later.csv"
    later.write_text(
        EXPORT.read_text(encoding="utf-8").replace("2024-01-03,20,52.00", "2024-02-03,24,56.00"),
        encoding="utf-8",
    )
    assert keyed("1001:2024-02-03") in parsed(later) and keyed("1001:2024-01-03") not in parsed(later)


def test_import_twice_stores_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    config = write_config(tmp_path)
    code, out, err = cli(capsys, config, "import", "liberapay", str(EXPORT))
    assert code == 0, err
    assert "imported: 4" in out and "skipped, pledged but has not paid yet: 1" in out
    code, out, _ = cli(capsys, config, "import", "liberapay", str(EXPORT))
    assert "imported: 0" in out
    stored = donations(config, "liberapay")
    assert len(stored) == 4
    stored_id = lambda text: hash_keyed(KEY.encode(), "liberapay", text)  # noqa: E731
    assert stored[stored_id("1001:2024-01-03")][1] == "Alice L."
    assert stored[stored_id("1002:2024-01-04")][1] is None
    assert not [external_id for external_id in stored if "1001" in external_id or "1002" in external_id]
