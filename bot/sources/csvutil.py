"""Reading platform exports: encodings, separators, headers by name, line numbers, values.

Exports are read by column *name*, never by position: platforms add, drop and
reorder columns between versions. A header is matched after normalisation
(case, spaces and punctuation ignored), so ``TimeZone``, ``Time zone`` and
``time_zone`` are the same column; each column may also have aliases.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.dates import date_problem
from bot.ledger.models import NewDonation, RefundEvent
from bot.money import MoneyError, is_currency, parse_amount
from bot.sources.base import Parsed, RowError, Skipped

__all__ = [
    "Column",
    "CsvFile",
    "Record",
    "RowProblem",
    "normalise_header",
    "open_csv",
    "parse_bool",
    "parse_currency",
    "parse_date",
    "parse_datetime",
    "parse_money",
    "parse_time",
    "parse_zone",
]

Item = NewDonation | RefundEvent
_SEPARATORS = (",", ";", "\t")
_ENCODINGS = ("utf-8-sig", "cp1252")


class RowProblem(Exception):
    """One value of one row is wrong; the importer turns it into a RowError."""

    def __init__(self, column: str, problem: str) -> None:
        super().__init__(f"{column}: {problem}")
        self.column = column
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Column:
    """A column an importer reads: its key, the header names it goes by, whether it must exist."""

    key: str
    names: tuple[str, ...]
    required: bool = True

    @property
    def label(self) -> str:
        return self.names[0]


def normalise_header(name: str) -> str:
    """``" Is Public? "`` -> ``"ispublic"``; ``"Time zone"`` -> ``"timezone"``."""
    return re.sub(r"[^0-9a-z]+", "", name.strip().lstrip("\ufeff").lower())


@dataclass(frozen=True, slots=True)
class Record:
    """One data row: its first physical line in the file and its values."""

    line: int
    fields: list[str]
    delimiter: str
    _index: dict[str, int]
    _labels: dict[str, str]

    @property
    def raw(self) -> str:
        """The row as a CSV line (only built for rejected rows: it costs)."""
        return _join(self.fields, self.delimiter)

    def get(self, key: str) -> str:
        """The stripped value of column ``key``; empty when the file lacks the column."""
        index = self._index.get(key)
        if index is None or index >= len(self.fields):
            return ""
        return self.fields[index].strip()

    def require(self, key: str) -> str:
        """Like :meth:`get`, but an empty value is a RowProblem."""
        value = self.get(key)
        if not value:
            raise RowProblem(self.label(key), "is empty")
        return value

    def label(self, key: str) -> str:
        """The header as the file spells it (for messages the user will recognise)."""
        return self._labels.get(key, key)


@dataclass(slots=True)
class CsvFile:
    """An opened export: which separator, which columns, and its records."""

    path: Path
    text: str
    delimiter: str
    header: list[str]
    index: dict[str, int]
    labels: dict[str, str]

    def has(self, key: str) -> bool:
        return key in self.index

    def records(self) -> Iterator[Record]:
        """Data rows, blank lines left out. ``line`` counts physical lines from 1."""
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter)
        width = len(self.header)
        previous_end = 0
        seen_header = False
        for fields in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if not seen_header:
                seen_header = True
                continue
            # Trailing empty fields beyond the header are what spreadsheets leave behind.
            while len(fields) > width and not fields[-1].strip():
                fields.pop()
            yield Record(start, fields, self.delimiter, self.index, self.labels)

    def each(self, handle: Callable[[Record], Sequence[Item] | str]) -> Iterator[Parsed | Skipped | RowError]:
        """Run ``handle`` on every record and turn what it says into the importer contract.

        ``handle`` returns the items of the row, or a string saying why the row is
        not a donation; it raises RowProblem for a bad value.
        """
        width = len(self.header)
        for record in self.records():
            if len(record.fields) > width:
                problem = f"{len(record.fields)} values but the header has {width} columns"
                yield RowError(record.line, "(row)", problem, record.raw)
                continue
            try:
                outcome = handle(record)
            except RowProblem as exc:
                yield RowError(record.line, exc.column, exc.problem, record.raw)
                continue
            if isinstance(outcome, str):
                yield Skipped(record.line, outcome)
                continue
            # Dates an importer built itself (a bare date, a date and a time): the ledger's range.
            wrong = next((w for i in outcome if (w := _date_problem(i)) is not None), None)
            if wrong is not None:
                yield RowError(record.line, "(date)", wrong, record.raw)
                continue
            for item in outcome:
                yield Parsed(record.line, item)


def _date_problem(item: Item) -> str | None:
    if isinstance(item, NewDonation):
        wrong = date_problem(item.received_at)
        return None if wrong is None else f"{item.received_at.isoformat()} {wrong}"
    return None


def _join(fields: Sequence[str], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(fields)
    return out.getvalue()


def _decode(path: Path, data: bytes) -> str:
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError(f"{path}: cannot be decoded as UTF-8")  # pragma: no cover - cp1252 decodes most


def _sniff(first_line: str) -> str:
    """The separator of the header line: the candidate that splits it into the most cells."""
    best, best_count = ",", 0
    for sep in _SEPARATORS:
        count = len(next(csv.reader([first_line], delimiter=sep), []))
        if count > best_count:
            best, best_count = sep, count
    return best


def open_csv(path: Path, columns: Sequence[Column], *, what: str) -> CsvFile:
    """Open ``path`` and map ``columns`` to positions.

    Args:
        path: the export.
        columns: what the importer reads; required ones must be present.
        what: how the export is called, for the error message ("an Open Collective
            transactions export").

    Raises:
        ValueError: naming the file, when it cannot be read or lacks required columns.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    text = _decode(path, data)
    if text.startswith("\ufeff"):
        text = text[1:]
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise ValueError(f"{path}: empty file, expected {what}")
    delimiter = _sniff(first)
    header = next(csv.reader([first], delimiter=delimiter))
    by_name = {normalise_header(h): i for i, h in reversed(list(enumerate(header)))}
    index: dict[str, int] = {}
    labels: dict[str, str] = {}
    missing: list[str] = []
    for column in columns:
        found = next((by_name[n] for n in map(normalise_header, column.names) if n in by_name), None)
        if found is None:
            labels[column.key] = column.label
            if column.required:
                missing.append(column.label)
            continue
        index[column.key] = found
        labels[column.key] = header[found].strip()
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ValueError(f"{path}: not {what}: missing column{plural} {', '.join(missing)}")
    return CsvFile(path, text, delimiter, header, index, labels)


# --- values --------------------------------------------------------------------------------

_TRUE = frozenset({"true", "yes", "y", "1", "t", "x", "public", "oui", "ja"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "", "private", "non", "nein"})
_SYMBOLS = re.compile(r"[^\d.,+\-()]")


def parse_bool(value: str, column: str) -> bool:
    """``true``/``yes``/``1`` and their negations; anything else is a RowProblem."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RowProblem(column, f"{value!r} is neither true nor false")


def parse_currency(value: str, column: str) -> str:
    code = value.strip().upper()
    if not is_currency(code):
        raise RowProblem(column, f"{value!r} is not an ISO 4217 currency code")
    return code


def parse_money(value: str, currency: str, column: str, *, allow_negative: bool = False) -> int:
    """An amount as exports write it, in minor units of ``currency``.

    Accepts currency symbols and codes (``$5.00``, ``5,00 €``, ``$50.00 USD``),
    thousands separators (``1,250.00``, ``1.250,00``, ``1 250,00``), a decimal
    comma, and accounting negatives (``(5.00)``).
    """
    text = value.replace("\u2212", "-").replace("\u00a0", " ").replace("\u202f", " ").replace("'", "")
    negative = "(" in text and ")" in text
    cleaned = _SYMBOLS.sub("", text).replace("(", "").replace(")", "")
    if cleaned.count("-") > 1 or cleaned.count("+") > 1:
        raise RowProblem(column, f"{value!r} is not an amount")
    if cleaned.startswith("-"):
        negative, cleaned = True, cleaned[1:]
    cleaned = cleaned.lstrip("+")
    if not cleaned or not re.fullmatch(r"[\d.,]+", cleaned):
        raise RowProblem(column, f"{value!r} is not an amount")
    cleaned = _decimal_point(cleaned, value, column)
    try:
        amount = parse_amount(("-" if negative else "") + cleaned, currency, allow_negative=allow_negative)
    except MoneyError as exc:
        raise RowProblem(column, str(exc)) from None
    return amount


def _decimal_point(number: str, original: str, column: str) -> str:
    """Remove thousands separators and make the decimal separator a point."""
    has_dot, has_comma = "." in number, "," in number
    if has_dot and has_comma:
        decimal = "." if number.rfind(".") > number.rfind(",") else ","
        thousands = "," if decimal == "." else "."
        whole, _, frac = number.rpartition(decimal)
        if decimal in whole or not re.fullmatch(rf"\d{{1,3}}(\{thousands}\d{{3}})*", whole):
            raise RowProblem(column, f"{original!r} is not an amount")
        return whole.replace(thousands, "") + "." + frac
    sep = "." if has_dot else ("," if has_comma else "")
    if not sep:
        return number
    parts = number.split(sep)
    # One separator followed by exactly three digits is a thousands separator ("1,250");
    # anything else with a single separator is a decimal one ("5,00", "100.0").
    if len(parts) == 2 and len(parts[1]) != 3:
        return parts[0] + "." + parts[1]
    if len(parts) == 2 and sep == ".":
        return number  # "1.250" as written by a dot-decimal platform is one and a quarter
    if all(len(p) == 3 for p in parts[1:]) and 1 <= len(parts[0]) <= 3:
        return "".join(parts)
    raise RowProblem(column, f"{original!r} is not an amount")


# Fixed offsets of the abbreviations PayPal and spreadsheets write in time-zone columns.
_ABBREVIATIONS: dict[str, float] = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "BST": 1, "WEST": 1, "CET": 1, "MET": 1, "CEST": 2,
    "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3, "IST": 5.5, "SGT": 8, "HKT": 8, "AWST": 8,
    "JST": 9, "KST": 9, "ACST": 9.5, "ACDT": 10.5, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
    "HST": -10, "AKST": -9, "AKDT": -8, "PST": -8, "PDT": -7, "MST": -7, "MDT": -6, "CST": -6,
    "CDT": -5, "EST": -5, "EDT": -4, "AST": -4, "ADT": -3, "NST": -3.5, "NDT": -2.5, "BRT": -3,
    "ART": -3,
}  # fmt: skip
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$")


def parse_zone(value: str, column: str) -> tzinfo:
    """``Europe/Paris``, ``PDT``, ``GMT+01:00``, ``+0200``: a tzinfo, or a RowProblem."""
    text = value.strip()
    upper = text.upper()
    if upper in _ABBREVIATIONS:
        return timezone(timedelta(hours=_ABBREVIATIONS[upper]))
    match = _OFFSET.match(upper)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        hours, minutes = int(match.group(2)), int(match.group(3) or 0)
        if hours <= 14 and minutes < 60:
            return timezone(sign * timedelta(hours=hours, minutes=minutes))
    if "/" in text:
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise RowProblem(column, f"{value!r} is not a time zone")


_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASH_DATE = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})$")
_YMD_SLASH = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")


def parse_date(value: str, column: str, *, day_first: bool = False) -> date:
    """``2024-03-05``, ``2024/03/05``, ``03/05/2024`` (US, or day first when asked), ``05.03.2024``."""
    text = value.strip()
    try:
        match = _ISO_DATE.match(text) or _YMD_SLASH.match(text)
        if match:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        match = _SLASH_DATE.match(text)
        if match:
            first, sep, second, year = match.group(1), match.group(2), match.group(3), match.group(4)
            full_year = int(year) + (2000 if len(year) == 2 else 0)
            # A dotted date is always day first (German, French, ...).
            if day_first or sep == ".":
                return date(full_year, int(second), int(first))
            return date(full_year, int(first), int(second))
    except ValueError:
        raise RowProblem(column, f"{value!r} is not a date") from None
    raise RowProblem(column, f"{value!r} is not a date")


_NOON = time(12)
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AaPp][Mm])?$")


def parse_time(value: str, column: str) -> time:
    """``14:05:09``, ``14:05``, ``2:05:09 PM``."""
    match = _TIME.match(value.strip())
    if not match:
        raise RowProblem(column, f"{value!r} is not a time of day")
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    meridiem = (match.group(4) or "").upper()
    if meridiem:
        if not 1 <= hour <= 12:
            raise RowProblem(column, f"{value!r} is not a time of day")
        hour = hour % 12 + (12 if meridiem == "PM" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise RowProblem(column, f"{value!r} is not a time of day")
    return time(hour, minute, second)


def parse_datetime(value: str, column: str, tz: tzinfo) -> datetime:
    """An ISO date-time (``2023-06-06T05:47:17``, ``...Z``, ``...+02:00``, ``2024-01-02 03:04:05 UTC``)
    or a bare date, made aware: without an offset it is read in ``tz``. A bare date is
    read as noon, safely inside that day whatever the zone (as the native CSV does).
    """
    text = value.strip()
    suffix = re.search(r"\s+([A-Za-z]{1,5}|[A-Za-z]+/[A-Za-z_]+)$", text)
    zone: tzinfo = tz
    if suffix:
        zone = parse_zone(suffix.group(1), column)
        text = text[: suffix.start()]
    if re.fullmatch(r"[\d/.\-]+", text):
        parsed = datetime.combine(parse_date(text, column), _NOON)
    else:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise RowProblem(column, f"{value!r} is not a date and time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    wrong = date_problem(parsed)  # the ledger's range (bot/dates.py), said on the row
    if wrong is not None:
        raise RowProblem(column, f"{value!r} {wrong}")
    return parsed
