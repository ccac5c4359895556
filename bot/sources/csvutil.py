"""Reading platform exports: encodings, separators, headers by name, line numbers, values.

Exports are read by column *name*, never by position: platforms add, drop and
reorder columns between versions. A header is matched after normalisation
(case, spaces and punctuation ignored), so ``TimeZone``, ``Time zone`` and
``time_zone`` are the same column; each column may also have aliases.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.dates import date_problem
from bot.ledger.models import NewDonation, RefundEvent
from bot.money import MoneyError, is_currency, parse_amount
from bot.sources.base import Parsed, RowError, Skipped

__all__ = [
    "FORMULA_STARTS",
    "MAX_LINE_CHARS",
    "MAX_ROW_CHARS",
    "Column",
    "CsvFile",
    "Header",
    "LineBudget",
    "Record",
    "RowProblem",
    "Variant",
    "bounded_lines",
    "join_row",
    "neutralise",
    "normalise_header",
    "open_csv",
    "open_variant",
    "parse_bool",
    "parse_currency",
    "parse_date",
    "parse_datetime",
    "parse_money",
    "parse_time",
    "parse_zone",
    "read_header",
    "separator_name",
    "sniff",
    "split_row",
    "unneutralise",
    "write_private_csv",
    "write_private_text",
]

Item = NewDonation | RefundEvent
_SEPARATORS = (",", ";", "\t")
_SEPARATOR_NAMES = {",": "`,`", ";": "`;`", "\t": "tabs"}
_ENCODINGS = ("utf-8-sig", "cp1252")

# No real export comes near these; a file that does is not an export, and reading it whole
# could take all the memory there is. A line is read at most MAX_LINE_CHARS at a time, a
# quoted field may not grow past it, and a row (several lines inside quotes) past MAX_ROW_CHARS.
MAX_LINE_CHARS = 1 << 20
MAX_ROW_CHARS = 4 << 20
csv.field_size_limit(MAX_LINE_CHARS)

# OWASP's CSV injection rule: a cell a spreadsheet would run as a formula starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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


@dataclass(frozen=True, slots=True)
class Variant:
    """One known shape of a platform's export (a report, a language): recognised by its header."""

    name: str
    columns: tuple[Column, ...]


def normalise_header(name: str) -> str:
    """``" Is Public? "`` -> ``"ispublic"``; ``"Time zone"`` -> ``"timezone"``; ``"Descripción"`` -> ``"descripcion"``."""
    text = unicodedata.normalize("NFKD", name.strip().lstrip("\ufeff").lower())
    return re.sub(r"[^0-9a-z]+", "", "".join(c for c in text if not unicodedata.combining(c)))


def neutralise(cell: str) -> str:
    """A cell as donorbot writes it to CSV: one a spreadsheet would run as a formula gets a ``'``."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def unneutralise(cell: str) -> str:
    """Undo :func:`neutralise` (a rejected-rows file is read back as it was written)."""
    return cell[1:] if cell.startswith("'") and cell[1:2] in FORMULA_STARTS and cell[1:2] else cell


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
        return join_row(self.fields, self.delimiter)

    def get(self, key: str) -> str:
        """The stripped value of column ``key``; empty when the file lacks the column."""
        index = self._index.get(key)
        if index is None or index >= len(self.fields):
            return ""
        return unneutralise(self.fields[index].strip())

    def require(self, key: str) -> str:
        """Like :meth:`get`, but an empty value is a RowProblem."""
        value = self.get(key)
        if not value:
            raise RowProblem(self.label(key), "is empty")
        return value

    def label(self, key: str) -> str:
        """The header as the file spells it (for messages the user will recognise)."""
        return self._labels.get(key, key)


class LineBudget:
    """What the current row has read so far; the reader of rows resets it after each one."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0


def bounded_lines(handle: TextIO, path: Path, budget: LineBudget | None = None) -> Iterator[str]:
    """The lines of ``handle``, each read at most :data:`MAX_LINE_CHARS` at a time.

    Raises:
        ValueError: ``FILE:LINE: ...`` for a line over the limit, or a row (lines inside
            quotes) over :data:`MAX_ROW_CHARS` when ``budget`` is given.
    """
    readline = handle.readline
    limit = MAX_LINE_CHARS + 1
    number = 0
    while line := readline(limit):
        number += 1
        size = len(line)
        if size > MAX_LINE_CHARS:
            raise ValueError(
                f"{path}:{number}: a line longer than {MAX_LINE_CHARS:,} characters: "
                "this is not a donations export (nothing was read past it)"
            )
        if budget is not None:
            budget.used += size
            if budget.used > MAX_ROW_CHARS:
                raise ValueError(
                    f"{path}:{number}: one row runs over {MAX_ROW_CHARS:,} characters "
                    "(a quote left open?): this is not a donations export"
                )
        yield line


@dataclass(slots=True)
class CsvFile:
    """An opened export: which separator, which columns, and its records (read from disk as needed)."""

    path: Path
    encoding: str
    delimiter: str
    header: list[str]
    index: dict[str, int]
    labels: dict[str, str]
    variant: str = ""

    def has(self, key: str) -> bool:
        return key in self.index

    def records(self) -> Iterator[Record]:
        """Data rows, blank lines left out. ``line`` counts physical lines from 1."""
        width = len(self.header)
        budget = LineBudget()
        with self.path.open(encoding=self.encoding, newline="") as handle:
            reader = csv.reader(bounded_lines(handle, self.path, budget), delimiter=self.delimiter)
            previous_end = 0
            seen_header = False
            for fields in reader:
                budget.used = 0
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


def join_row(fields: Sequence[str], delimiter: str) -> str:
    """``fields`` as one CSV line with ``delimiter`` (quoted where needed)."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(fields)
    return out.getvalue()


def split_row(line: str, delimiter: str) -> list[str]:
    """The inverse of :func:`join_row` (quoted fields may hold line breaks)."""
    return next(csv.reader(io.StringIO(line, newline=""), delimiter=delimiter), [])


def _encoding(path: Path) -> str:
    """UTF-8 when the whole file decodes as UTF-8 (read block by block), else Windows-1252."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as raw:
            while block := raw.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return _ENCODINGS[1]
    return _ENCODINGS[0]


def sniff(header_line: str) -> str:
    """The separator of a header line: the candidate that splits it into the most cells."""
    best, best_count = ",", 0
    for sep in _SEPARATORS:
        count = len(next(csv.reader([header_line], delimiter=sep), []))
        if count > best_count:
            best, best_count = sep, count
    return best


def separator_name(delimiter: str) -> str:
    """How a separator is called in messages: `,` `;` or tabs."""
    return _SEPARATOR_NAMES.get(delimiter, repr(delimiter))


@dataclass(frozen=True, slots=True)
class Header:
    """The first non-blank line of a file, split."""

    fields: list[str]
    delimiter: str
    quote_all: bool  # every cell quoted, as PayPal writes them
    encoding: str


def read_header(path: Path, encoding: str | None = None) -> Header | None:
    """The header of ``path`` (None for an empty file), read without reading the rest.

    Raises:
        ValueError: naming the file, when it cannot be read or its first line is over the limit.
    """
    try:
        encoding = encoding or _encoding(path)
        with path.open(encoding=encoding, newline="") as handle:
            first = next((line for line in bounded_lines(handle, path) if line.strip()), "")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    first = first.lstrip("\ufeff").rstrip("\r\n")
    if not first.strip():
        return None
    delimiter = sniff(first)
    fields = split_row(first, delimiter)
    return Header(fields, delimiter, first.lstrip().startswith('"'), encoding)


def _map(header: list[str], columns: Sequence[Column]) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Column positions and labels by key, and the labels of the required columns not found."""
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
    return index, labels, missing


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
    return open_variant(path, (Variant(what, tuple(columns)),), what=what)


def open_variant(path: Path, variants: Sequence[Variant], *, what: str) -> CsvFile:
    """Open ``path`` as the first of ``variants`` whose required columns its header has.

    Raises:
        ValueError: naming the file, when it cannot be read, or naming the closest variant
            and the columns it lacks.
    """
    header = read_header(path)
    if header is None:
        raise ValueError(f"{path}: empty file, expected {what}")
    closest: tuple[float, Variant, list[str]] | None = None
    for variant in variants:
        index, labels, missing = _map(header.fields, variant.columns)
        if not missing:
            return CsvFile(
                path, header.encoding, header.delimiter, header.fields, index, labels, variant.name
            )
        required = sum(1 for c in variant.columns if c.required)
        score = 1 - len(missing) / max(required, 1)
        if closest is None or score > closest[0]:
            closest = (score, variant, missing)
    assert closest is not None
    _, variant, missing = closest
    plural = "s" if len(missing) > 1 else ""
    if len(variants) == 1:
        raise ValueError(f"{path}: not {what}: missing column{plural} {', '.join(missing)}")
    raise ValueError(
        f"{path}: not {what} donorbot knows: the header is closest to {variant.name}, "
        f"which also has the column{plural} {', '.join(missing)}"
    )


def write_private_text(target: Path, text: str) -> None:
    """Write ``text`` to a file only its owner may read (0600 whatever the umask), all at once."""
    with _private_output(target, newline=None) as handle:
        handle.write(text)


def write_private_csv(
    target: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    delimiter: str = ",",
    quote_all: bool = False,
) -> None:
    """Write a CSV file only its owner may read (0600 whatever the umask), all at once.

    Every cell a spreadsheet would run as a formula is neutralised (:func:`neutralise`).
    """
    with _private_output(target, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter,
                            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)  # fmt: skip
        writer.writerow([neutralise(cell) for cell in header])
        for row in rows:
            writer.writerow([neutralise(cell) for cell in row])


@contextlib.contextmanager
def _private_output(target: Path, *, newline: str | None) -> Iterator[TextIO]:
    """A file only its owner may read, written beside ``target`` and renamed over it: never half-written."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken bits away; nobody else gets any
        with os.fdopen(fd, "w", newline=newline, encoding="utf-8") as handle:
            yield handle
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
