"""Liberapay's partial lists refused with the way to the full export; keyed ids on disk; Open Collective's legacy export.

The public lists are real (scrubbed; tests/fixtures/README.md); the active-patrons
export is written with the columns Liberapay's ``export.spt`` selects; the legacy
Open Collective row is the one opencollective-frontend's own test expects, and
``obs-data.csv`` is a real collective's legacy export (three months, scrubbed).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sources_support import FIXTURES, KEY, KEY_ENV, cli, ledger_path, query, write_config

PUBLIC_LISTS = sorted((FIXTURES / "liberapay" / "real").glob("public-*.csv"))
FULL = FIXTURES / "liberapay" / "patrons.csv"
LEGACY = FIXTURES / "opencollective" / "legacy" / "legacy-export.csv"
OBS = FIXTURES / "opencollective" / "legacy" / "obs-data.csv"


@pytest.mark.parametrize("path", PUBLIC_LISTS, ids=lambda p: p.name)
def test_the_public_list_is_refused_naming_the_full_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    config = write_config(tmp_path)
    for extra in ((), ("--skip-invalid",)):
        code, _, err = cli(capsys, config, "import", "liberapay", str(path), *extra)
        assert code == 1
        assert "public patrons list" in err and "export.csv?scope=all" in err
        assert "--skip-invalid" not in err
    assert not ledger_path(config).exists() or query(config, "SELECT count(*) FROM donations") == [(0,)]


def test_the_active_patrons_export_is_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    active = tmp_path / "liberapay-active-patrons.csv"
    active.write_text(
        "patron_id,patron_username,patron_public_name,visibility,donation_currency,weekly_amount,pledge_date,"
        "last_modification_date,first_payment_date,patron_avatar_url\n"
        "1000005,patron-e,Patron E,public,EUR,1.00,2025-01-02,2025-01-02,2025-01-03,\n",
        encoding="utf-8",
    )
    code, _, err = cli(capsys, write_config(tmp_path), "import", "liberapay", str(active))
    assert code == 1 and "active patrons" in err and "scope=all" in err


def test_no_patron_id_reaches_the_database_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    config = write_config(tmp_path)
    code, _, err = cli(capsys, config, "import", "liberapay", str(FULL))
    assert code == 0, err
    patron_ids = {row["patron_id"] for row in csv.DictReader(FULL.open(encoding="utf-8")) if row["patron_id"]}
    assert patron_ids
    data = b"".join(p.read_bytes() for p in ledger_path(config).parent.iterdir() if p.is_file())
    for patron_id in patron_ids:
        assert f"{patron_id}:".encode() not in data and f"liberapay:{patron_id}".encode() not in data
    code, out, err = cli(capsys, config, "export-donor", "liberapay:1001")
    assert code == 0, err
    assert "1001:" not in out  # what is held: a keyed id, not one naming the patron


def test_the_legacy_export_counts_what_it_received_in_the_project_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    zone = "America/Sao_Paulo"
    config = write_config(tmp_path, timezone=zone)
    code, out, err = cli(capsys, config, "import", "opencollective", str(LEGACY))
    assert code == 0, err
    assert "skipped, money sent, not received: 1" in out
    assert "skipped, refund (the legacy export does not say of which contribution): 1" in out
    months: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in csv.DictReader(LEGACY.open(encoding="utf-8")):
        if Decimal(row["Transaction Amount"]) > 0:
            when = datetime.fromisoformat(row["Transaction Date"]).replace(tzinfo=ZoneInfo(zone))
            months[f"{when.year}-{when.month:02d}"].append(row)
    assert sorted(months) == ["2017-12", "2018-01"]
    for month, rows in months.items():
        code, out, err = cli(capsys, config, "stats", "--month", month, "--json")
        figures = json.loads(out)
        assert figures["donations"] == len(rows)
        assert figures["totals"] == {"BRL": str(sum(Decimal(r["Transaction Amount"]) for r in rows))}
        named = [r for r in rows if r["User Name"] != "Incognito" and "/guest-" not in r["User Profile"]]
        assert figures["public_donors_listed"] == len(named)
        recurring = {r["User Profile"] for r in rows if r["Subscription Interval"] == "month"}
        assert figures["recurring_donors"] == len(recurring)
    code, out, _ = cli(capsys, config, "import", "opencollective", str(LEGACY))
    assert "imported: 0" in out
    assert not [row for row in query(config, "SELECT external_id FROM donations") if "donor-001" in row[0]]


def test_a_legacy_row_and_the_same_payment_from_another_export_are_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    config = write_config(tmp_path, timezone="America/Sao_Paulo")
    newer = tmp_path / "transactions.csv"
    newer.write_text(
        '"datetime","shortId","shortGroup","description","type","kind","isRefund","isRefunded","shortRefundId",'
        '"displayAmount","amount","currency","oppositeAccountSlug","oppositeAccountName"\n'
        '"2017-12-04T17:43:04","5d1e2f3a","6c7b8a90","monthly recurring subscription","CREDIT","CONTRIBUTION",'
        '"","","","R$2.00 BRL",2,"BRL","donor-001","Donor 001"\n',
        encoding="utf-8",
    )
    for path in (LEGACY, newer):
        code, out, err = cli(capsys, config, "import", "opencollective", str(path))
        assert code == 0, err
    assert "imported: 0" in out and "duplicates (already in the ledger or twice in the file): 1" in out
    assert query(config, "SELECT count(*) FROM donations") == [(4,)]


def test_a_real_legacy_export_equals_a_computation_from_its_rows_month_by_month(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    zone = "America/Los_Angeles"
    config = write_config(tmp_path, timezone=zone)
    code, out, err = cli(capsys, config, "import", "opencollective", str(OBS))
    assert code == 0, err
    rows = list(csv.DictReader(OBS.open(encoding="utf-8")))
    gifts = [r for r in rows if Decimal(r["Transaction Amount"]) > 0]
    refunds = [r for r in rows if r["Transaction Description"].startswith("Refund of")]
    assert f"imported: {len(gifts)}" in out
    assert f"skipped, refund (the legacy export does not say of which contribution): {len(refunds)}" in out
    assert f"skipped, money sent, not received: {len(rows) - len(gifts) - len(refunds)}" in out
    months: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in gifts:
        when = datetime.fromisoformat(row["Transaction Date"]).replace(tzinfo=ZoneInfo(zone))
        months[f"{when.year}-{when.month:02d}"].append(row)
    assert sorted(months) == ["2021-10", "2021-11", "2021-12"]
    for month, month_rows in months.items():
        code, out, err = cli(capsys, config, "stats", "--month", month, "--json")
        figures = json.loads(out)
        assert figures["donations"] == len(month_rows), month
        assert figures["donors"] == len({r["User Profile"] for r in month_rows}), month
        total = sum(Decimal(r["Transaction Amount"]) for r in month_rows)
        assert Decimal(figures["totals"]["USD"]) == total, month
        named = [
            r
            for r in month_rows
            if r["User Name"].lower() != "incognito" and "/guest-" not in r["User Profile"]
        ]
        assert figures["public_donors_listed"] == len(named), month  # a line per public donation
        recurring = {r["User Profile"] for r in month_rows if r["Subscription Interval"] in ("month", "year")}
        assert figures["recurring_donors"] == len(recurring), month
    names = {row[0] for row in query(config, "SELECT DISTINCT display_name FROM donations")}
    assert "Incognito" not in names and not any(n and n.lower() == "incognito" for n in names)
