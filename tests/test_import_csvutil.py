"""The shared export reader: separators, headers by name, line numbers, amounts, dates, zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.sources.csvutil import (
    Column,
    RowProblem,
    normalise_header,
    open_csv,
    parse_date,
    parse_datetime,
    parse_money,
    parse_zone,
)
from bot.sources.registry import IMPORTERS

COLUMNS = (
    Column("zone", ("TimeZone",)),
    Column("gross", ("Gross",)),
    Column("note", ("Note",), required=False),
)


def test_every_documented_platform_is_registered() -> None:
    assert set(IMPORTERS) == {"csv", "opencollective", "liberapay", "github-sponsors", "paypal", "kofi"}
    assert all(IMPORTERS[name].name for name in IMPORTERS)


@pytest.mark.parametrize("header", ["TimeZone", "Time zone", "Time Zone", " time_zone ", "\ufeffTIMEZONE"])
def test_header_spellings_are_one_column(header: str) -> None:
    assert normalise_header(header) == "timezone"


def test_separator_bom_quoted_newlines_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(
        '\ufeffExtra;Gross;Time zone\r\n\r\na;1,00;CET\r\nb;2,00;"multi\r\nline"\r\nc;3,00;UTC\r\n'.encode()
    )
    csv_file = open_csv(path, COLUMNS, what="a test export")
    assert csv_file.delimiter == ";"
    records = list(csv_file.records())
    assert [(r.line, r.get("gross"), r.get("note")) for r in records] == [
        (3, "1,00", ""),
        (4, "2,00", ""),
        (6, "3,00", ""),
    ]
    assert records[0].label("zone") == "Time zone"


def test_missing_required_columns_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "y.csv"
    path.write_text("Gross,Other\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"y\.csv: not a test export: missing column TimeZone"):
        open_csv(path, COLUMNS, what="a test export")
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.csv: empty file"):
        open_csv(empty, COLUMNS, what="a test export")


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("$5.00", "USD", 500),
        ("1,250.00", "USD", 125_000),
        ("1.250,00", "EUR", 125_000),
        ("1 250,50 €", "EUR", 125_050),
        ("\u00a0€12,5", "EUR", 1250),
        ("$50.00 USD", "USD", 5000),
        ("100.0", "EUR", 10_000),
        ("1,000", "JPY", 1000),
        ("(5.00)", "USD", -500),
        ("-2.5", "USD", -250),
    ],
)
def test_amounts_as_exports_write_them(text: str, currency: str, minor: int) -> None:
    assert parse_money(text, currency, "Gross", allow_negative=True) == minor


@pytest.mark.parametrize("text", ["ten", "1,2,3.4.5", "", "--5", "1.234.56", "5.001"])
def test_not_amounts(text: str) -> None:
    with pytest.raises(RowProblem) as caught:
        parse_money(text, "USD", "Gross")
    assert caught.value.column == "Gross"


def test_negative_amounts_need_permission() -> None:
    with pytest.raises(RowProblem, match="negative"):
        parse_money("-5.00", "USD", "Gross")


def test_dates_and_zones() -> None:
    assert parse_date("05/03/2024", "Date") == date(2024, 5, 3)
    assert parse_date("05/03/2024", "Date", day_first=True) == date(2024, 3, 5)
    assert parse_date("05.03.2024", "Date") == date(2024, 3, 5)
    assert parse_date("2024-03-05", "Date") == date(2024, 3, 5)
    with pytest.raises(RowProblem):
        parse_date("2024-02-30", "Date")
    assert parse_zone("PDT", "tz") == timezone(timedelta(hours=-7))
    assert parse_zone("GMT+05:30", "tz") == timezone(timedelta(hours=5, minutes=30))
    assert parse_zone("-0300", "tz") == timezone(timedelta(hours=-3))
    assert parse_zone("Europe/Paris", "tz") == ZoneInfo("Europe/Paris")
    with pytest.raises(RowProblem, match="not a time zone"):
        parse_zone("Mars/Olympus", "tz")
    paris = ZoneInfo("Europe/Paris")
    assert parse_datetime("2024-01-03", "d", paris) == datetime(2024, 1, 3, 12, tzinfo=paris)
    assert parse_datetime("2024-01-03T10:00:00", "d", paris) == datetime(2024, 1, 3, 10, tzinfo=paris)
    assert parse_datetime("2024-01-03 10:00:00 UTC", "d", paris) == datetime(2024, 1, 3, 10, tzinfo=UTC)
