"""The native CSV as spreadsheets save it, the rejected-rows file, ``--dry-run``, bounded reading.

Each file goes through ``donorbot import csv`` and the month figures are compared with a
sum computed here from the rows themselves.
"""

from __future__ import annotations

import csv
import json
import os
import stat
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from sources_support import KEY, KEY_ENV, cli, ledger_path, query, write_config

from bot.sources.csvutil import MAX_LINE_CHARS


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, KEY)
    return write_config(tmp_path)


def stats(capsys: pytest.CaptureFixture[str], config: Path, month: str) -> dict[str, object]:
    code, out, err = cli(capsys, config, "stats", "--month", month, "--json")
    assert code == 0, err
    result: dict[str, object] = json.loads(out)
    return result


# LibreOffice Calc in French, "Enregistrer sous > CSV": `;`, decimal commas, day-first dates.
FRENCH = (
    "id;date;amount;currency;donor;name;public;message\n"
    "f1;01/12/2025;12,50;EUR;ann@example.org;Ann;oui;Merci\n"
    "f2;02/12/2025 18:30;1 250,00;EUR;bob@example.org;;non;\n"
    "f3;03/12/2025;5;EUR;;;non;\n"
    "f4;31/12/2025 23:30;7,25;EUR;ann@example.org;Ann;oui;\n"
    "f5;02/11/2025;3,00;EUR;cid@example.org;;non;\n"
)


def expected(text: str, month: str) -> tuple[int, Decimal]:
    """Donations and total of ``month`` (MM/YYYY) computed from the rows, independently."""
    count, total = 0, Decimal(0)
    for row in list(csv.reader(text.splitlines(), delimiter=";"))[1:]:
        if row[1].split(" ")[0].endswith(month):
            count += 1
            total += Decimal(row[2].replace(" ", "").replace(",", "."))
    return count, total


def test_a_french_spreadsheet_imports_with_day_first(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dons.csv"
    path.write_text(FRENCH, encoding="utf-8")
    code, out, err = cli(capsys, config, "import", "csv", str(path), "--day-first")
    assert code == 0, err
    assert "imported: 5" in out
    for month, key in (("12/2025", "2025-12"), ("11/2025", "2025-11")):
        count, total = expected(FRENCH, month)
        figures = stats(capsys, config, key)
        assert figures["donations"] == count
        assert Decimal(str(figures["total_base"])) == total
    assert query(config, "SELECT amount FROM donations WHERE external_id = 'f2'") == [(125_000,)]


def test_an_ambiguous_date_without_the_option_is_an_error_naming_it(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dons.csv"
    path.write_text(FRENCH, encoding="utf-8")
    code, _, err = cli(capsys, config, "import", "csv", str(path))
    assert code == 1
    assert f"{path}:2: date: '01/12/2025': is that day or month first? say so with --day-first" in err
    assert not ledger_path(config).exists() or query(config, "SELECT count(*) FROM donations") == [(0,)]
    # Month first reads the same text the other way: 12 January.
    code, _, err = cli(capsys, config, "import", "csv", str(path), "--month-first")
    assert code == 1 and "'31/12/2025 23:30' is not a date (month first)" in err


def test_tabs_and_a_dotted_date_need_no_option(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tabs.csv"
    path.write_text("id\tdate\tamount\tcurrency\nt1\t24.12.2025\t4,50\tEUR\n", encoding="utf-8")
    code, out, err = cli(capsys, config, "import", "csv", str(path))
    assert code == 0 and "imported: 1" in out, err
    assert stats(capsys, config, "2025-12")["totals"] == {"EUR": "4.50"}


def test_errors_name_the_separator_and_the_decimal_comma(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("id;datum;amount;currency\nx;2025-12-01;5;EUR\n", encoding="utf-8")
    code, _, err = cli(capsys, config, "import", "csv", str(path))
    assert code == 1
    assert f"{path}:1: read as separated by `;`: missing column(s) date; unknown column(s) datum" in err
    comma = tmp_path / "comma.csv"
    comma.write_text('id,date,amount,currency\ny,2025-12-01,"5,50",EUR\nz,2025-12-01,5,50,EUR\n', "utf-8")
    code, _, err = cli(capsys, config, "import", "csv", str(comma))
    assert code == 1
    assert "'5,50': a decimal comma needs a file separated by `;`" in err
    assert "has 5 fields, the header has 4 (an amount with a decimal comma?" in err


def test_a_repeated_id_with_other_data_is_a_conflict_and_the_same_row_a_duplicate(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "twice.csv"
    path.write_text(
        "id,date,amount,currency\n"
        "r1,2025-12-01T10:00:00Z,5.00,EUR\n"
        "r2,2025-12-02T10:00:00Z,6.00,EUR\n"
        "r1,2025-12-01T10:00:00Z,5.00,EUR\n"
        "r2,2025-12-02T10:00:00Z,60.00,EUR\n",
        encoding="utf-8",
    )
    code, _, err = cli(capsys, config, "import", "csv", str(path))
    assert code == 1
    assert f"{path}:5: id: 'r2' is also on line 3 with different data" in err
    assert "r1" not in err  # the same row twice is no conflict
    code, out, err = cli(capsys, config, "import", "csv", str(path), "--skip-invalid")
    assert code == 0, err
    assert "imported: 2" in out and "duplicates (already in the ledger or twice in the file): 1" in out
    assert "rejected (invalid): 1" in out
    assert stats(capsys, config, "2025-12")["totals"] == {"EUR": "11.00"}


@pytest.mark.parametrize("code", ["XXX", "XAU", "XTS", "XDR"])
def test_codes_that_are_not_money_are_refused(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_text(f"id,date,amount,currency\nx1,2025-12-01,5,{code}\nx2,2025-12-01,500,XOF\n", "utf-8")
    exit_code, _, err = cli(capsys, config, "import", "csv", str(path))
    assert exit_code == 1 and f"{path}:2: currency: '{code}' is not an ISO 4217 code of a currency" in err
    assert "x2" not in err  # the CFA franc is money


HOSTILE = '=HYPERLINK("http://evil.example/x","Click me")'


def test_the_rejected_rows_file_is_private_neutralised_and_imports_again_as_it_is(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dons.csv"
    rows = [
        ["id", "date", "amount", "currency", "donor", "name", "public", "message"],
        ["g1", "2025-12-01T10:00:00Z", "5.00", "EUR", "ann@example.org", "Ann", "true", "hi"],
        ["b1", "2025-12-02T10:00:00Z", "-5", "EUR", "bob@example.org", "", "false", HOSTILE],
        ["b2", "2025-12-03T10:00:00Z", "7.00", "EURO", "+33 6 12", "@bob", "false", "a;b\nmultiline"],
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=";", quoting=csv.QUOTE_ALL).writerows(rows)
    old = os.umask(0)
    try:
        code, out, err = cli(capsys, config, "import", "csv", str(path), "--skip-invalid")
    finally:
        os.umask(old)
    assert code == 0, err
    rejected = tmp_path / "dons.csv.rejected.csv"
    assert f"rejected (invalid): 2, written to {rejected}" in out
    assert stat.S_IMODE(rejected.stat().st_mode) == 0o600
    text = rejected.read_text(encoding="utf-8")
    # The same separator and quoting, the original header, then why.
    assert text.splitlines()[0] == (
        '"id";"date";"amount";"currency";"donor";"name";"public";"message";'
        '"rejected_line";"rejected_column";"rejected_problem"'
    )
    cells = list(csv.reader(text.splitlines(keepends=True), delimiter=";"))
    for row in cells[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert [cells[1][2], cells[1][7]] == ["'-5", "'" + HOSTILE]
    assert cells[2][4:6] == ["'+33 6 12", "'@bob"] and cells[2][7] == "a;b\nmultiline"
    assert cells[1][8:] == ["3", "amount", "'-5' is negative"]
    assert cells[2][8:] == ["4", "currency", "'EURO' is not an ISO 4217 code of a currency"]

    # Fixed in place (amount and currency), the file imports as it is; the reasons are ignored.
    fixed = text.replace('"\'-5"', '"5"').replace('"EURO"', '"EUR"')
    rejected.write_text(fixed, encoding="utf-8")
    code, out, err = cli(capsys, config, "import", "csv", str(rejected))
    assert code == 0 and "imported: 2" in out, err
    assert query(config, "SELECT message FROM donations WHERE external_id = 'b1'") == [(None,)]
    assert query(config, "SELECT donor_key IS NOT NULL FROM donations WHERE external_id = 'b2'") == [(1,)]
    assert stats(capsys, config, "2025-12")["totals"] == {"EUR": "17.00"}


def test_a_public_hostile_message_comes_back_from_the_rejected_file_unchanged(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [
                ["id", "date", "amount", "currency", "name", "public", "message"],
                ["m1", "2025-12-01T10:00:00Z", "0", "EUR", "Jo", "true", HOSTILE],
            ]
        )
    cli(capsys, config, "import", "csv", str(path), "--skip-invalid")
    rejected = tmp_path / "m.csv.rejected.csv"
    rejected.write_text(rejected.read_text(encoding="utf-8").replace(",0,", ",1,"), encoding="utf-8")
    code, _out, err = cli(capsys, config, "import", "csv", str(rejected))
    assert code == 0, err
    assert query(config, "SELECT message FROM donations") == [(HOSTILE,)]


def test_dry_run_creates_nothing_and_names_where_the_rejected_rows_would_go(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dons.csv"
    path.write_text("id,date,amount,currency\nd1,2025-12-01,5,EUR\nd2,2025-12-01,x,EUR\n", "utf-8")
    data = config.parent / "data"
    code, out, err = cli(capsys, config, "import", "csv", str(path), "--dry-run", "--skip-invalid")
    assert code == 0, err
    assert "would import: 1" in out
    assert f"rejected (invalid): 1, would be written to {path}.rejected.csv" in out
    assert list(data.iterdir()) == [] and not Path(f"{path}.rejected.csv").exists()

    # With a ledger there: its bytes, its folder and its time stamps stay as they were.
    assert cli(capsys, config, "import", "csv", str(path), "--skip-invalid")[0] == 0
    Path(f"{path}.rejected.csv").unlink()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in data.iterdir()}
    other = tmp_path / "more.csv"
    other.write_text("id,date,amount,currency\nd1,2025-12-01,5,EUR\nd3,2025-12-02,9,EUR\n", "utf-8")
    code, out, err = cli(capsys, config, "import", "csv", str(other), "--dry-run")
    assert code == 0 and "would import: 1" in out and "duplicates (already in the ledger" in out, err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in data.iterdir()} == before
    assert stats(capsys, config, "2025-12")["donations"] == 1


def test_an_old_ledger_is_not_migrated_by_a_dry_run(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    ledger = ledger_path(config)
    with sqlite3.connect(ledger) as db:  # a file no version of donorbot wrote: version 0
        db.execute("CREATE TABLE unrelated (x)")
    before = ledger.read_bytes()
    path = tmp_path / "dons.csv"
    path.write_text("id,date,amount,currency\nd1,2025-12-01,5,EUR\n", "utf-8")
    cli(capsys, config, "import", "csv", str(path), "--dry-run")
    assert ledger.read_bytes() == before
    assert sorted(p.name for p in ledger.parent.iterdir()) == [ledger.name]


@pytest.mark.parametrize("platform", ["csv", "paypal", "kofi"])
def test_a_line_too_long_is_refused_with_file_and_line(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], platform: str
) -> None:
    path = tmp_path / "long.csv"
    header = {
        "csv": "id,date,amount,currency",
        "paypal": "Date,Time,TimeZone,Name,Type,Status,Currency,Gross,Transaction ID",
        "kofi": "DateTime (UTC),From,Message,Item,Received,Given,Currency,TransactionType,TransactionId",
    }[platform]
    with path.open("w", encoding="utf-8") as handle:
        handle.write(header + "\n")
        handle.write("a" * (MAX_LINE_CHARS + 10) + "\n")
    code, _, err = cli(capsys, config, "import", platform, str(path))
    assert code == 1
    assert f"{path}:2: a line longer than {MAX_LINE_CHARS:,} characters" in err
    assert "Traceback" not in err


def test_a_quote_left_open_is_refused_before_it_fills_memory(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "open.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write('id,date,amount,currency\nq1,2025-12-01,5,"EUR\n')
        for _ in range(50):
            handle.write("x" * 100_000 + "\n")
    code, _, err = cli(capsys, config, "import", "csv", str(path))
    assert code == 1 and "Traceback" not in err
    assert str(path) in err and ("larger than field limit" in err or "runs over" in err)


def test_the_monthly_figures_of_many_rows_match_the_rows(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A larger `;` file: the fast path and the conflict filter, figures per month from the rows."""
    path = tmp_path / "big.csv"
    totals: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    lines = ["id;date;amount;currency"]
    for i in range(3000):
        month = 1 + i % 12
        cents = 100 + (i * 37) % 5000
        lines.append(f"n{i};2025-{month:02d}-{1 + i % 28:02d}T12:00:00Z;{cents // 100},{cents % 100:02d};EUR")
        totals[f"2025-{month:02d}"] += cents
        counts[f"2025-{month:02d}"] += 1
    lines.append(lines[10])  # the same row again: a duplicate
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = cli(capsys, config, "import", "csv", str(path))
    assert code == 0 and "imported: 3000" in out and "twice in the file): 1" in out, err
    for month in ("2025-01", "2025-06", "2025-12"):
        figures = stats(capsys, config, month)
        assert figures["donations"] == counts[month]
        assert Decimal(str(figures["total_base"])) == Decimal(totals[month]) / 100


def test_past_the_exact_ids_the_filter_still_finds_every_conflict(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same file read with 50 ids remembered exactly, the rest in the filter."""
    from bot.sources import native_csv

    monkeypatch.setattr(native_csv, "_EXACT_IDS", 50)
    lines = ["id,date,amount,currency"]
    lines += [f"k{i},2025-10-{1 + i % 28:02d}T12:00:00Z,{1 + i % 9}.00,EUR" for i in range(2000)]
    lines.append("k10,2025-10-11T12:00:00Z,2.00,EUR")  # the same row as line 12: a duplicate
    lines.append("k1500,2025-10-01T12:00:00Z,99.00,EUR")  # a conflict with line 1502
    lines.append("k1999,2025-10-12T12:00:00Z,1.00,EUR")  # a conflict with line 2001 (2.00 there)
    path = tmp_path / "filter.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = cli(capsys, config, "import", "csv", str(path))
    assert code == 1
    assert f"{path}:2003: id: 'k1500' is also on line 1502 with different data" in err
    assert f"{path}:2004: id: 'k1999' is also on line 2001 with different data" in err
    assert "k10'" not in err
    code, out, err = cli(capsys, config, "import", "csv", str(path), "--skip-invalid")
    assert code == 0 and "imported: 2000" in out and "twice in the file): 1" in out, err
    expected_total = sum(Decimal(1 + i % 9) for i in range(2000))
    assert Decimal(str(stats(capsys, config, "2025-10")["total_base"])) == expected_total
