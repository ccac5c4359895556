"""PayPal activity CSV: locales, time zones, refunds; `donorbot import paypal`."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sources_support import FIXTURES, KEY, KEY_ENV, cli, donations, query, write_config

from bot.ledger.models import NewDonation, RefundEvent, Status
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.paypal import PayPalImporter

TZ = ZoneInfo("Europe/Paris")
PDT = timezone(timedelta(hours=-7))


def rows(name: str) -> list[Parsed | Skipped | RowError]:
    return list(PayPalImporter().rows(FIXTURES / "paypal" / name, TZ))


def new(name: str) -> dict[str, NewDonation]:
    return {
        r.item.external_id: r.item
        for r in rows(name)
        if isinstance(r, Parsed) and isinstance(r.item, NewDonation)
    }


def test_us_export_donations_subscriptions_and_amounts() -> None:
    items = new("activity_us.csv")
    assert sorted(items) == ["5DN00000000000001", "5DN00000000000002", "5SU00000000000003"]
    jo = items["5DN00000000000001"]
    assert jo.received_at == datetime(2024, 5, 13, 23, 30, tzinfo=PDT)  # month first: 05/13
    assert (jo.amount, jo.currency) == (2500, "USD")
    assert jo.donor_id == "email:jo@example.com"
    assert not jo.public and jo.display_name is None and jo.message is None  # PayPal never says public
    assert items["5DN00000000000002"].amount == 125_000  # "1,250.00"
    assert items["5DN00000000000002"].donor_id == "email:big@example.com"  # normalised
    assert items["5DN00000000000002"].received_at == datetime(2024, 5, 3, 10, tzinfo=PDT)
    assert items["5SU00000000000003"].recurring


def test_refunds_and_chargebacks_name_the_original() -> None:
    refunds = [
        r.item for r in rows("activity_us.csv") if isinstance(r, Parsed) and isinstance(r.item, RefundEvent)
    ]
    assert [(r.external_id, r.status) for r in refunds] == [
        ("5DN00000000000001", Status.REFUNDED),
        ("5DN00000000000000", Status.DISPUTED),
    ]


def test_other_types_and_statuses_are_skipped() -> None:
    skipped = {r.line: r.reason for r in rows("activity_us.csv") if isinstance(r, Skipped)}
    assert skipped == {
        6: "General Payment is not a donation",
        7: "Donation Received with status Pending",
        9: "General Currency Conversion is not a donation",
    }


def test_german_export_semicolons_bom_decimal_commas_and_zones() -> None:
    items = new("activity_de.csv")
    jo = items["7DE00000000000001"]
    assert jo.amount == 125_000 and jo.currency == "EUR"  # "1.250,00"
    assert jo.received_at == datetime(
        2024, 5, 13, 23, 30, tzinfo=timezone(timedelta(hours=2))
    )  # 13.05.2024 CEST
    anna = items["7DE00000000000002"]
    assert anna.received_at == datetime(2024, 6, 1, 0, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    assert anna.amount == 500 and anna.recurring
    # No zone in the row: the project's zone.
    assert items["7DE00000000000003"].received_at == datetime(2024, 6, 2, 12, tzinfo=TZ)
    assert items["7DE00000000000003"].donor_id is None


def test_uk_export_is_read_day_first() -> None:
    items = new("activity_uk.csv")
    assert items["8UK00000000000001"].received_at.date().isoformat() == "2024-04-25"
    # 03/05/2024 is the 3rd of May in a file that also holds 25/04/2024.
    assert items["8UK00000000000002"].received_at == datetime(
        2024, 5, 3, 9, tzinfo=timezone(timedelta(hours=1))
    )


def test_conflicting_date_orders_refuse_the_file(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.csv"
    us = (FIXTURES / "paypal" / "activity_us.csv").read_text(encoding="utf-8")
    uk_row = (FIXTURES / "paypal" / "activity_uk.csv").read_text(encoding="utf-8").splitlines()[1]
    mixed.write_text(us + uk_row + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"mixed\.csv: the Date column mixes day-first and month-first"):
        list(PayPalImporter().rows(mixed, TZ))


def test_bad_rows_say_line_and_column() -> None:
    errors = [r.describe("a.csv") for r in rows("activity_bad.csv") if isinstance(r, RowError)]
    assert errors == [
        "a.csv:3: Date: '05/33/2024' is not a date",
        "a.csv:4: Gross: 'ten' is not an amount",
        "a.csv:5: Reference Txn ID: a refund must name its original",
    ]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, KEY)
    return write_config(tmp_path)


def test_import_applies_a_refund_that_came_first(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, config, "import", "paypal", str(FIXTURES / "paypal" / "activity_us.csv"))
    assert code == 0, err
    assert "imported: 3" in out and "refunds applied: 1" in out
    assert "refunds kept until their donation arrives: 1" in out  # the chargeback of an older donation
    stored = donations(config, "paypal")
    assert stored["5DN00000000000001"][-1] == "refunded"
    assert all(row[1] is None and row[2] is None for row in stored.values())  # no names, no notes
    # Nothing of the export's personal data reached the database file.
    raw = (config.parent / "data" / "donorbot.sqlite3").read_bytes()
    for personal in (b"jo@example.com", b"Jo Donor", b"Keep going", b"big@example.com"):
        assert personal not in raw


def test_the_chargebacked_original_arriving_later_is_marked(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, config, "import", "paypal", str(FIXTURES / "paypal" / "activity_us.csv"))
    older = config.parent / "april.csv"
    header = (FIXTURES / "paypal" / "activity_us.csv").read_text(encoding="utf-8").splitlines()[0]
    older.write_text(
        header + "\n"
        '"04/02/2024","10:00:00","PDT","Disputed Donor","Donation Received","Completed","USD","5.00","0",'
        '"5.00","dd@example.com","project@example.org","5DN00000000000000","","","","","","","","","","","Credit"\n',
        encoding="utf-8",
    )
    code, out, _ = cli(capsys, config, "import", "paypal", str(older))
    assert code == 0 and "imported: 1" in out and "refunds applied: 1" in out
    assert donations(config, "paypal")["5DN00000000000000"][-1] == "disputed"
    assert query(config, "SELECT count(*) FROM pending_refunds") == [(0,)]


def test_skip_invalid_imports_the_rest(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = config.parent / "activity_bad.csv"
    shutil.copy(FIXTURES / "paypal" / "activity_bad.csv", bad)
    code, _, err = cli(capsys, config, "import", "paypal", str(bad))
    assert code == 1 and f"{bad}:4: Gross: 'ten' is not an amount" in err
    assert query(config, "SELECT count(*) FROM donations") == [(0,)]
    code, out, _ = cli(capsys, config, "import", "paypal", str(bad), "--skip-invalid")
    assert code == 0 and "imported: 1" in out and "rejected (invalid): 3" in out
    assert (config.parent / "activity_bad.csv.rejected.csv").exists()


# --- real headers: the statement and the activity download, in four languages -----------------


def stats_json(capsys: pytest.CaptureFixture[str], config: Path, month: str) -> dict[str, object]:
    import json

    code, out, err = cli(capsys, config, "stats", "--month", month, "--json")
    assert code == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def paypal_months(path: Path, day_first: bool) -> dict[str, tuple[int, dict[str, Decimal]]]:
    """Donations and totals per month, computed here from the file (donation types received,
    completed, minus those a refund names)."""
    import csv

    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    type_key = (
        "Type" if "Type" in rows[0] else next(k for k in ("Beschreibung", "Description") if k in rows[0])
    )
    gross_key = next(k for k in ("Gross", "Brutto") if k in rows[0])
    id_key = next(k for k in ("Transaction ID", "Transaktionscode") if k in rows[0])
    ref_key = next(k for k in ("Reference Txn ID", "Zugehöriger Transaktionscode") if k in rows[0])
    date_key = next(k for k in ("Date", "Datum") if k in rows[0])
    cur_key = next(k for k in ("Currency", "Währung") if k in rows[0])
    donation_types = {
        "Donation Received",
        "Subscription Payment Received",
        "Spendenzahlung",
        "Abonnementzahlung",
    }

    def amount(text: str) -> Decimal:
        if "," in text and ("." not in text or text.rfind(",") > text.rfind(".")):
            text = text.replace(".", "").replace(",", ".")
        return Decimal(text.replace(",", ""))

    refunded = {
        r[ref_key] for r in rows if r[type_key] in ("Refund", "Rückzahlung") and amount(r[gross_key]) < 0
    }
    out: dict[str, tuple[int, dict[str, Decimal]]] = {}
    for row in rows:
        if row[type_key] not in donation_types or amount(row[gross_key]) <= 0:
            continue
        if row.get("Status", "Completed") != "Completed" or row[id_key] in refunded:
            continue
        parts = row[date_key].replace(".", "/").split("/")
        month = f"{parts[2]}-{int(parts[1] if day_first else parts[0]):02d}"
        count, totals = out.get(month, (0, {}))
        totals[row[cur_key]] = totals.get(row[cur_key], Decimal(0)) + amount(row[gross_key])
        out[month] = (count + 1, totals)
    return out


def test_money_sent_is_skipped_even_without_balance_impact(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue: a Subscription Payment *sent* failed the whole import when the export had no Balance Impact."""
    path = FIXTURES / "paypal" / "activity_no_impact.csv"
    code, out, err = cli(capsys, config, "import", "paypal", str(path))
    assert code == 0, err
    assert "skipped, Subscription Payment sent, not received: 1" in out
    assert "skipped, Refund received, not a donor's refund: 1" in out  # the hosting company refunded us
    assert "skipped, Website Payment is not a donation: 2" in out
    assert "skipped, Donation Received with status Pending: 1" in out
    assert "imported: 4" in out and "refunds applied: 1" in out
    assert query(config, "SELECT count(*) FROM pending_refunds") == [(0,)]
    for month, (count, totals) in paypal_months(path, day_first=True).items():
        figures = stats_json(capsys, config, month)
        assert figures["donations"] == count, month
        assert figures["totals"] == {c: f"{t:.2f}" for c, t in totals.items()}, month
    assert donations(config, "paypal")["TDN1"][-1] == "refunded"


def test_a_spanish_statement_is_recognised_by_its_header(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FIXTURES / "paypal" / "statement_es.csv"
    rows_ = list(PayPalImporter().rows(path, TZ))
    assert [r.reason for r in rows_ if isinstance(r, Skipped)] == [
        f"Pago estándar_{i} is not a donation" for i in range(1, 5)
    ]
    code, out, err = cli(capsys, config, "import", "paypal", str(path))
    assert code == 0 and "4 rows read" in out and "imported: 0" in out, err


def test_a_german_statement_donations_in_and_out(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "paypal" / "statement_de.csv"
    items = new("statement_de.csv")
    assert sorted(items) == ["8SP00000AA000001A", "8SP00000AA000002B", "8SP00000AA000003C"]
    assert items["8SP00000AA000001A"].amount == 100_000  # "1.000,00"
    assert items["8SP00000AA000003C"].recurring
    # "30.06.2025 23:59" in Berlin is June: the row's own zone.
    assert items["8SP00000AA000002B"].received_at == datetime(
        2025, 6, 30, 23, 59, tzinfo=ZoneInfo("Europe/Berlin")
    )
    skipped = [r.reason for r in rows("statement_de.csv") if isinstance(r, Skipped)]
    assert "Spendenzahlung sent, not received" in skipped  # the account's own gift to a charity
    code, out, err = cli(capsys, config, "import", "paypal", str(path))
    assert code == 0 and "refunds applied: 1" in out, err
    for month, (count, totals) in paypal_months(path, day_first=True).items():
        figures = stats_json(capsys, config, month)
        assert figures["donations"] == count and figures["totals"] == {
            c: f"{t:.2f}" for c, t in totals.items()
        }


def test_a_french_statement_is_read_day_first(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = rows("statement_fr.csv")
    assert [r.reason for r in found if isinstance(r, Skipped)] == [
        "Paiement standard is not a donation",
        "Paiement d'abonnement sent, not received",  # the account paying its host
    ]
    assert not [r for r in found if isinstance(r, RowError)]
    items = new("statement_fr.csv")
    assert sorted(items) == ["9FR00000000000003", "9FR00000000000004"]
    assert items["9FR00000000000003"].amount == 2000 and not items["9FR00000000000003"].recurring
    assert items["9FR00000000000004"].recurring
    # "31/03/2024 23:30" in Paris: read day first, in the row's zone.
    assert items["9FR00000000000004"].received_at == datetime(
        2024, 3, 31, 23, 30, tzinfo=ZoneInfo("Europe/Paris")
    )
    code, out, err = cli(capsys, config, "import", "paypal", str(FIXTURES / "paypal" / "statement_fr.csv"))
    assert code == 0 and "imported: 2" in out, err


def test_an_unknown_header_names_the_closest_variant_and_what_it_lacks(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    path.write_text(
        '"Datum","Uhrzeit","Zeitzone","Name","Typ","Status","Währung","Brutto"\n', encoding="utf-8"
    )
    with pytest.raises(ValueError) as caught:
        list(PayPalImporter().rows(path, TZ))
    assert str(caught.value) == (
        f"{path}: not a PayPal activity download or statement donorbot knows: the header is closest to "
        "the PayPal activity download (German), which also has the column Transaktionscode"
    )
