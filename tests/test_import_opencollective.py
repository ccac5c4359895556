"""Open Collective transactions export: parser and `donorbot import opencollective`."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sources_support import FIXTURES, KEY, KEY_ENV, cli, donations, ledger_path, query, write_config

from bot.ledger.models import DonorKind, NewDonation, RefundEvent, Status
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.opencollective import OpenCollectiveImporter

TZ = ZoneInfo("Europe/Paris")
EXPORT = FIXTURES / "opencollective" / "transactions.csv"


def read(path: Path) -> list[Parsed | Skipped | RowError]:
    return list(OpenCollectiveImporter().rows(path, TZ))


def test_only_contributions_count_and_guests_stay_anonymous() -> None:
    rows = read(EXPORT)
    donations_by_id = {
        r.item.external_id: r.item for r in rows if isinstance(r, Parsed) and isinstance(r.item, NewDonation)
    }
    assert sorted(donations_by_id) == ["12345678", "87654321", "c0ffee00", "d3f98b95", "e5f6a7b8"]
    skipped = {r.line: r.reason for r in rows if isinstance(r, Skipped)}
    assert skipped == {3: "DEBIT EXPENSE is not a contribution", 4: "DEBIT HOST_FEE is not a contribution"}
    assert not [r for r in rows if isinstance(r, RowError)]

    martin = donations_by_id["d3f98b95"]  # the documented sample row (a guest)
    assert martin.amount == 5000 and martin.currency == "USD"
    assert martin.received_at == datetime(2023, 6, 6, 5, 47, 17, tzinfo=UTC)  # written in UTC, no offset
    assert not martin.public and martin.display_name is None
    assert martin.donor_id == "email:martin@example.org"  # the optional email column wins

    incognito = donations_by_id["87654321"]
    assert not incognito.public and incognito.display_name is None

    alice = donations_by_id["12345678"]
    assert alice.public and alice.display_name == "Alice Liddell" and alice.recurring
    assert alice.donor_id == "opencollective:alice"

    acme = donations_by_id["c0ffee00"]
    assert acme.kind is DonorKind.ORGANISATION and acme.amount == 100_000


def test_refunds_name_their_original_once() -> None:
    rows = read(EXPORT)
    refunds = [
        (r.line, r.item.external_id)
        for r in rows
        if isinstance(r, Parsed) and isinstance(r.item, RefundEvent)
    ]
    # Bob's refund row (line 2) comes first; his original (line 7) must not refund him a second time.
    assert refunds == [(2, "e5f6a7b8"), (10, "aaaabbbb")]
    assert all(
        r.item.status is Status.REFUNDED
        for r in rows
        if isinstance(r, Parsed) and isinstance(r.item, RefundEvent)
    )


def test_flagged_original_carries_its_refund_when_the_refund_row_is_absent(tmp_path: Path) -> None:
    lines = EXPORT.read_text(encoding="utf-8-sig").splitlines()
    alone = tmp_path / "only-original.csv"
    alone.write_text("\n".join([lines[0], lines[6]]) + "\n", encoding="utf-8")
    items = [r.item for r in read(alone) if isinstance(r, Parsed)]
    assert [type(i).__name__ for i in items] == ["NewDonation", "RefundEvent"]
    assert {i.external_id for i in items} == {"e5f6a7b8"}


def test_bad_value_is_reported_with_line_and_column() -> None:
    errors = [r for r in read(FIXTURES / "opencollective" / "bad_amount.csv") if isinstance(r, RowError)]
    assert len(errors) == 1
    assert errors[0].describe("f.csv") == "f.csv:3: amount: 'fifty' is not an amount"
    assert "d3f98b95" in errors[0].raw


def test_a_file_of_another_kind_is_refused_naming_it() -> None:
    path = FIXTURES / "opencollective" / "not_transactions.csv"
    with pytest.raises(
        ValueError, match=r"not_transactions\.csv: not an Open Collective export: the closest is"
    ):
        read(path)


def test_semicolon_separated_copy_reads_the_same(tmp_path: Path) -> None:
    import csv

    copy = tmp_path / "semicolons.csv"
    with (
        EXPORT.open(encoding="utf-8-sig", newline="") as source,
        copy.open("w", encoding="utf-8", newline="") as out,
    ):
        csv.writer(out, delimiter=";").writerows(csv.reader(source))
    assert [r for r in read(copy)] == [r for r in read(EXPORT)]


# --- through the CLI, into a real ledger -------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, KEY)
    return write_config(tmp_path)


def test_import_stores_donations_applies_refunds_and_is_idempotent(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, config, "import", "opencollective", str(EXPORT))
    assert code == 0, err
    assert "imported: 5" in out
    assert "refunds applied: 1" in out
    assert "refunds kept until their donation arrives: 1" in out
    assert "skipped, DEBIT EXPENSE is not a contribution: 1" in out

    stored = donations(config, "opencollective")
    assert stored["e5f6a7b8"][-1] == "refunded"
    assert stored["d3f98b95"][1] is None  # guest: no name
    assert stored["12345678"][1] == "Alice Liddell"
    assert stored["c0ffee00"][-2] == "organisation"
    assert query(config, "SELECT external_id FROM pending_refunds") == [("aaaabbbb",)]
    # Totals count the four donations that were not refunded: 1000 + 50 + 10 + 5 dollars.
    assert query(config, "SELECT sum(amount), sum(donations) FROM month_totals WHERE currency = 'USD'") == [
        (106_500, 4)
    ]

    code, out, _ = cli(capsys, config, "import", "opencollective", str(EXPORT))
    assert code == 0
    assert "imported: 0" in out and "duplicates (already in the ledger or twice in the file): 5" in out
    assert query(config, "SELECT sum(amount), sum(donations) FROM month_totals") == [(106_500, 4)]


def test_bad_row_imports_nothing_unless_skip_invalid(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = config.parent / "bad_amount.csv"
    shutil.copy(FIXTURES / "opencollective" / "bad_amount.csv", bad)
    code, out, err = cli(capsys, config, "import", "opencollective", str(bad))
    assert code == 1
    assert f"{bad}:3: amount: 'fifty' is not an amount" in err
    assert query(config, "SELECT count(*) FROM donations") == [(0,)]

    code, out, err = cli(capsys, config, "import", "opencollective", str(bad), "--skip-invalid")
    assert code == 0, err
    assert "imported: 1" in out and "rejected (invalid): 1" in out
    assert query(config, "SELECT external_id FROM donations") == [("12345678",)]
    rejected = (config.parent / "bad_amount.csv.rejected.csv").read_text(encoding="utf-8")
    # The export's own header and quoting, the reason in three more columns.
    assert rejected.startswith('"datetime","shortId",') and '"rejected_problem"' in rejected.splitlines()[0]
    assert '"3","amount","\'fifty\' is not an amount"' in rejected and "d3f98b95" in rejected


def test_dry_run_writes_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, config, "import", "opencollective", str(EXPORT), "--dry-run")
    assert code == 0 and "would import: 5" in out
    assert not ledger_path(config).exists()  # not even created
