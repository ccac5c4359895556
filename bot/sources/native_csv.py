"""donorbot's own CSV format, for offline donations and exports from anywhere else.

Columns (header required, order free): ``id, date, amount, currency`` are
required; ``donor, name, public, message, recurring, kind, status`` are optional.
See the README for what each holds.

Spreadsheets save it their own way, so the separator is read from the header
(``,`` ``;`` or tabs), a file separated by ``;`` or tabs may write amounts with a
decimal comma (``12,50``, ``1 250,00``), and dates written ``01/12/2025`` are read
only when the user says which comes first (``--day-first`` / ``--month-first``):
such a date is never guessed. Dotted dates (``01.12.2025``) are always day first.

An id seen twice in one file with different data is a conflict, reported as a
bad row; the same row twice is a duplicate, stored once; a later row of the same
id whose status is ``refunded`` or ``disputed`` is that donation's refund. A file of
millions of rows is checked in bounded memory: the first 1,048,576 ids (a spreadsheet's
row limit) are remembered exactly, the rest in a compact filter; a row whose id may have come before is held
back and decided after a second, quick pass over the ids.
"""

from __future__ import annotations

import codecs
import csv
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from bot.dates import EARLIEST_SECONDS, date_problem, latest_seconds
from bot.ledger.models import DonorKind, NewDonation, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.money import MoneyError, is_currency, parse_amount
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.csvutil import (
    MAX_LINE_CHARS,
    LineBudget,
    bounded_lines,
    join_row,
    read_header,
    separator_name,
    unneutralise,
)

__all__ = ["COLUMNS", "DateOrder", "NativeCsvImporter", "parse_bool", "parse_when"]

DateOrder = Literal["day", "month"] | None

REQUIRED = ("id", "date", "amount", "currency")
COLUMNS = (*REQUIRED, "donor", "name", "public", "message", "recurring", "kind", "status")
_TRUE = {"1", "true", "yes", "y", "oui"}
_FALSE = {"", "0", "false", "no", "n", "non"}
_KINDS = {"person": DonorKind.PERSON, "organisation": DonorKind.ORGANISATION,
          "organization": DonorKind.ORGANISATION, "org": DonorKind.ORGANISATION}  # fmt: skip
# What a rejected-rows file adds (bot.sources.pipeline.REJECTED_COLUMNS): read back, ignored.
_IGNORED = ("rejected_line", "rejected_column", "rejected_problem")
# A date without a time is read as noon in the project's zone: safely inside that day.
_NOON = time(12)
_SLASHED = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?(?:\d{1,3}(?:[ .\u00a0\u202f]\d{3})+|\d+),\d+$")


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{text!r} is not yes/no (use true or false)")


def parse_when(text: str, tz: ZoneInfo, order: DateOrder = None) -> datetime:
    """``2025-12-31``, ``2025-12-31T23:30:00Z`` or with an offset; naive times are in ``tz``.

    ``01/12/2025`` (optionally with ``14:30`` or ``14:30:00``) is read day first or month
    first as ``order`` says, and refused without it; ``01.12.2025`` is always day first.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("is empty")
    slashed = _SLASHED.match(raw)
    if slashed:
        return _slashed(slashed, text, tz, order)
    try:
        if len(raw) == 10:
            moment = datetime.combine(datetime.strptime(raw, "%Y-%m-%d").date(), _NOON, tz)
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    wrong = date_problem(moment)  # the ledger's range (bot/dates.py)
    if wrong is not None:
        raise ValueError(f"{text!r} {wrong}")
    return moment.astimezone(UTC)


def _slashed(match: re.Match[str], text: str, tz: ZoneInfo, order: DateOrder) -> datetime:
    first, sep, second, year, hour, minute, second_s = match.groups()
    if sep == ".":
        order = "day"
    if order is None:
        raise ValueError(
            f"{text.strip()!r}: is that day or month first? say so with --day-first or --month-first "
            "(or write dates as YYYY-MM-DD)"
        )
    day, month = (first, second) if order == "day" else (second, first)
    try:
        when = date(int(year), int(month), int(day))
        at = time(int(hour), int(minute), int(second_s or 0)) if hour is not None else _NOON
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a date ({order} first)") from None
    moment = datetime.combine(when, at, tz)
    wrong = date_problem(moment)  # the ledger's range (bot/dates.py)
    if wrong is not None:
        raise ValueError(f"{text.strip()!r} {wrong}")
    return moment.astimezone(UTC)


def _decimal_comma(text: str) -> str:
    """``12,50`` -> ``12.50``; ``1 250,00`` and ``1.250,00`` -> ``1250.00``; anything else unchanged."""
    raw = text.strip()
    if "," not in raw or not _DECIMAL_COMMA.match(raw):
        return raw
    whole, _, fraction = raw.rpartition(",")
    return re.sub(r"[ .\u00a0\u202f]", "", whole) + "." + fraction


def _first_line_not_utf8(path: Path) -> int:
    """The line holding the first byte that is not UTF-8 (read block by block)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as raw:
        while block := raw.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return line + block[: exc.start].count(b"\n")
            line += block.count(b"\n")
    return line


def _donation(
    external_id: str,
    amount: int,
    currency: str,
    when: datetime,
    donor: str,
    name: str,
    message: str,
    public: bool,
    recurring: bool,
    kind: DonorKind,
    status: Status = Status.SUCCEEDED,
) -> NewDonation:
    """A row's donation once its values are read (``donor``, ``name``, ``message`` stripped)."""
    # A rejected-rows file read back: donorbot wrote a leading ' before a formula-like cell.
    if external_id[:1] == "'":
        external_id = unneutralise(external_id)
    if name[:1] == "'":
        name = unneutralise(name)
    if message[:1] == "'":
        message = unneutralise(message)
    if donor[:1] == "'":
        donor = unneutralise(donor)
    return NewDonation(
        source="csv",
        external_id=external_id,
        amount=amount,
        currency=currency,
        received_at=when,
        donor_id=donor_identity("csv", donor, donor if "@" in donor else None),
        public=public,
        display_name=name or None,
        message=message or None,
        recurring=recurring,
        kind=kind,
        status=status,
    )


_CACHE_LIMIT = 100_000


class _FastRows:
    """The common row, parsed with what earlier rows taught: currencies, amounts, flags.

    Files repeat a few currencies, a few hundred amounts and the same yes/no words, so
    each is parsed once and looked up after. A row this path is not sure of (an empty or
    unknown value, a status other than succeeded, a date without a time) returns None
    and goes through :meth:`NativeCsvImporter._row`, the reference, which words errors.
    A test checks that both paths read every row they both accept the same way.
    """

    def __init__(self, index: dict[str, int], tz: ZoneInfo, *, decimal_comma: bool = False) -> None:
        self.tz = tz
        self.latest = latest_seconds()  # once: an import lasts seconds, the skew allows a day
        self.decimal_comma = decimal_comma
        self.id, self.date = index["id"], index["date"]
        self.amount, self.currency = index["amount"], index["currency"]
        self.donor, self.name = index.get("donor"), index.get("name")
        self.public, self.message = index.get("public"), index.get("message")
        self.recurring, self.kind = index.get("recurring"), index.get("kind")
        self.status = index.get("status")
        self.currencies: dict[str, str] = {}
        self.amounts: dict[tuple[str, str], int] = {}
        self.flags = dict.fromkeys(_TRUE, True) | dict.fromkeys(_FALSE, False)
        self.kinds = _KINDS | {"": DonorKind.PERSON}

    def parse(self, fields: list[str]) -> NewDonation | None:
        try:
            external_id = fields[self.id].strip()
            currency = self.currencies.get(fields[self.currency]) or self._currency(fields[self.currency])
            if currency is None:
                return None
            amount = self.amounts.get((fields[self.amount], currency))
            if amount is None:
                amount = self._amount(fields[self.amount], currency)
            raw_date = fields[self.date].strip()
            if not external_id or amount is None or len(raw_date) <= 10:
                return None
            when = datetime.fromisoformat(raw_date)
            if when.tzinfo is None:
                when = when.replace(tzinfo=self.tz)
            when = when.astimezone(UTC)
            if not EARLIEST_SECONDS <= when.timestamp() <= self.latest:
                return None  # the careful path says why
            flags, i = self.flags, self.public
            public = flags[fields[i].strip().lower()] if i is not None else False
            i = self.recurring
            recurring = flags[fields[i].strip().lower()] if i is not None else False
            i = self.kind
            kind = self.kinds[fields[i].strip().lower()] if i is not None else DonorKind.PERSON
            i = self.status
            if i is not None and fields[i].strip().lower() not in ("", "succeeded"):
                return None
        except (ValueError, KeyError, OverflowError):
            return None
        i = self.donor
        donor = fields[i].strip() if i is not None else ""
        i = self.name
        name = fields[i].strip() if i is not None else ""
        i = self.message
        message = fields[i].strip() if i is not None else ""
        return _donation(external_id, amount, currency, when, donor, name, message, public, recurring, kind)

    def _currency(self, raw: str) -> str | None:
        code = raw.strip().upper()
        if not is_currency(code):
            return None
        if len(self.currencies) < _CACHE_LIMIT:
            self.currencies[raw] = code
        return code

    def _amount(self, raw: str, currency: str) -> int | None:
        try:
            amount = parse_amount(_decimal_comma(raw) if self.decimal_comma else raw, currency)
        except MoneyError:
            return None
        if amount == 0:
            return None
        if len(self.amounts) >= _CACHE_LIMIT:
            self.amounts.clear()
        self.amounts[(raw, currency)] = amount
        return amount


# Ids remembered exactly (about 90 MB at most), then in the filter: Excel's and LibreOffice's
# row limit, so a spreadsheet never needs the filter nor its second pass.
_EXACT_IDS = 1_048_576
_BLOOM_BITS_PER_ROW = 32  # with two probes: about one row in 270 flagged by mistake


class _SeenIds:
    """Ids past the first :data:`_EXACT_IDS` of a file (which the reader keeps in a set).

    A Bloom filter of 4 bytes a row (two probes): it may say yes for an id never added
    (rarely), never no for one added, and its size is fixed by the file's line count.
    """

    __slots__ = ("bits", "mask")

    def __init__(self, rows: int) -> None:
        size = 1 << max(13, (rows * _BLOOM_BITS_PER_ROW).bit_length())
        self.bits = bytearray()
        self.mask = size - 1

    def absorb(self, exact: set[str]) -> None:
        """Take over from the exact set (allocated only now: small files never pay for it)."""
        self.bits = bytearray((self.mask + 1) >> 3)
        for key in exact:
            self.add(key)
        exact.clear()

    def add(self, key: str) -> bool:
        """Remember ``key``; whether it may have been added before."""
        h = hash(key)
        bits, mask = self.bits, self.mask
        a, b = h & mask, (h >> 32) & mask
        ia, ma, ib, mb = a >> 3, 1 << (a & 7), b >> 3, 1 << (b & 7)
        if bits[ia] & ma and bits[ib] & mb:
            return True
        bits[ia] |= ma
        bits[ib] |= mb
        return False


@dataclass(slots=True)
class _Held:
    """A row whose id the filter flagged: decided once the file's earlier rows are known."""

    line: int
    fields: tuple[str, ...]
    rows: list[Parsed | RowError]


class NativeCsvImporter:
    """Reads donorbot's own CSV; ``order`` says how to read ``01/12/2025`` dates (None: refuse them)."""

    name = "csv"

    def __init__(self, order: DateOrder = None) -> None:
        self.order = order

    def with_date_order(self, order: DateOrder) -> NativeCsvImporter:
        return NativeCsvImporter(order)

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        try:
            yield from self._rows(path, tz)
        except UnicodeDecodeError:
            line = _first_line_not_utf8(path)
            raise ValueError(f"{path}:{line}: not UTF-8 text (save the file as UTF-8)") from None

    def _header(self, path: Path) -> tuple[list[str], str]:
        header = read_header(path, "utf-8-sig")
        if header is None:
            raise ValueError(f"{path}: the file is empty (expected a header line)")
        names = [h.strip().lower() for h in header.fields]
        delimiter = header.delimiter
        missing = [c for c in REQUIRED if c not in names]
        unknown = [c for c in names if c not in COLUMNS and c not in _IGNORED]
        duplicated = sorted({c for c in names if names.count(c) > 1})
        if missing or unknown or duplicated:
            problems = []
            if missing:
                problems.append(f"missing column(s) {', '.join(missing)}")
            if unknown:
                problems.append(f"unknown column(s) {', '.join(unknown)}")
            if duplicated:
                problems.append(f"column(s) given twice: {', '.join(duplicated)}")
            read_as = f"read as separated by {separator_name(delimiter)}: "
            raise ValueError(f"{path}:1: {read_as}{'; '.join(problems)} (columns: {', '.join(COLUMNS)})")
        return names, delimiter

    def _rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        header, delimiter = self._header(path)
        index = {name: header.index(name) for name in header}
        width = len(header)
        decimal_comma = delimiter != ","
        fast = _FastRows(index, tz, decimal_comma=decimal_comma)
        id_column = index["id"]
        scan = _scan(path)
        seen = _SeenIds(scan.lines)
        exact: set[str] | None = set()
        remembered = 0
        held: dict[str, list[_Held]] = {}
        budget = LineBudget()
        with path.open(newline="", encoding="utf-8-sig") as handle:
            if scan.plain:
                # No quote and no line over the limit: no row can span lines, so the lines are
                # read by C code alone, each still at most MAX_LINE_CHARS (the file may change).
                lines: Iterator[str] = iter(functools.partial(handle.readline, MAX_LINE_CHARS + 1), "")
            else:
                lines = bounded_lines(handle, path, budget)
            reader = csv.reader(lines, delimiter=delimiter)
            next(reader, None)
            end = reader.line_num
            for fields in reader:
                budget.used = 0
                line = end + 1  # where the row starts (a quoted field may span lines)
                end = reader.line_num
                if len(fields) != width:
                    if not fields or (len(fields) == 1 and not fields[0].strip()):
                        continue
                    problem = f"has {len(fields)} fields, the header has {width}"
                    if delimiter == "," and len(fields) > width:
                        problem += " (an amount with a decimal comma? save the file separated by `;`)"
                    yield RowError(line, "(row)", problem, join_row(fields, delimiter))
                    continue
                donation = fast.parse(fields)
                key = fields[id_column].strip()
                if key:
                    # Inline for the first ids (a set, as fast as it gets), then the filter.
                    if exact is not None:
                        repeat = key in exact
                        if not repeat:
                            exact.add(key)
                            remembered += 1
                            if remembered > _EXACT_IDS:
                                seen.absorb(exact)
                                exact = None
                    else:
                        repeat = seen.add(key)
                    if repeat:
                        out: list[Parsed | RowError] = (
                            [Parsed(line, donation)] if donation is not None else []
                        )
                        if donation is None:
                            out.extend(
                                self._row(
                                    fields, index, line, tz, delimiter=delimiter, decimal_comma=decimal_comma
                                )
                            )
                        held.setdefault(key, []).append(_Held(line, tuple(fields), out))
                        continue
                if donation is None:
                    # Anything unusual (a bad value, a refund, a bare date): the careful path,
                    # which also words the error.
                    yield from self._row(
                        fields, index, line, tz, delimiter=delimiter, decimal_comma=decimal_comma
                    )
                else:
                    yield Parsed(line, donation)
        if held:
            yield from self._decide(path, delimiter, id_column, held, index.get("status"))

    @staticmethod
    def _is_refund(row: _Held, status: int | None) -> bool:
        """A later row of the same id saying ``refunded`` or ``disputed`` refunds it (see the README)."""
        return status is not None and row.fields[status].strip().lower() in ("refunded", "disputed")

    def _decide(
        self, path: Path, delimiter: str, id_column: int, held: dict[str, list[_Held]], status: int | None
    ) -> Iterator[Parsed | RowError]:
        """Second pass: a held row whose id came earlier with other data is a conflict."""
        first: dict[str, tuple[int, tuple[str, ...]]] = {}
        earliest = {key: rows[0].line for key, rows in held.items()}
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(bounded_lines(handle, path), delimiter=delimiter)
            next(reader, None)
            end = reader.line_num
            for fields in reader:
                line, end = end + 1, reader.line_num
                if len(fields) <= id_column:
                    continue
                key = fields[id_column].strip()
                if key in earliest and key not in first and line < earliest[key]:
                    first[key] = (line, tuple(f.strip() for f in fields))
        for key, rows in held.items():
            if key not in first:  # flagged by mistake (or the first of its id): as read
                first_line, first_fields = rows[0].line, tuple(f.strip() for f in rows[0].fields)
                yield from rows[0].rows
                rows = rows[1:]
            else:
                first_line, first_fields = first[key]
            for row in rows:
                if tuple(f.strip() for f in row.fields) == first_fields or self._is_refund(row, status):
                    # The same row again (a duplicate, stored once), or the donation's refund.
                    yield from row.rows
                    continue
                yield RowError(
                    row.line,
                    "id",
                    f"{key!r} is also on line {first_line} with different data: "
                    "one id is one donation (give each its own id)",
                    join_row(row.fields, delimiter),
                )

    def _row(
        self,
        fields: list[str],
        index: dict[str, int],
        line: int,
        tz: ZoneInfo,
        *,
        delimiter: str = ",",
        decimal_comma: bool = False,
    ) -> Iterator[Parsed | RowError]:
        def get(column: str) -> str:
            i = index.get(column)
            return unneutralise(fields[i].strip()) if i is not None else ""

        raw = join_row(fields, delimiter)
        column = "id"
        try:
            external_id = get("id")
            if not external_id:
                raise ValueError("is empty")
            column = "currency"
            currency = get("currency").upper()
            if not is_currency(currency):
                raise ValueError(f"{get('currency')!r} is not an ISO 4217 code of a currency")
            column = "amount"
            amount_text = get("amount")
            if "," in amount_text and not decimal_comma:
                raise ValueError(
                    f"{amount_text!r}: a decimal comma needs a file separated by `;` (or write {amount_text.replace(',', '.')!r})"
                )
            amount = parse_amount(_decimal_comma(amount_text) if decimal_comma else amount_text, currency)
            if amount == 0:
                raise ValueError("must be more than zero")
            column = "date"
            when = parse_when(get("date"), tz, self.order)
            column = "public"
            public = parse_bool(get("public"))
            column = "recurring"
            recurring = parse_bool(get("recurring"))
            column = "kind"
            kind_text = get("kind").lower() or "person"
            if kind_text not in _KINDS:
                raise ValueError(f"{get('kind')!r} is not person or organisation")
            column = "status"
            status = Status(get("status").lower() or "succeeded")
        except MoneyError as exc:
            yield RowError(line, column, str(exc), raw)
            return
        except ValueError as exc:
            problem = str(exc)
            if column == "status":
                problem = f"{get('status')!r} is not succeeded, refunded or disputed"
            yield RowError(line, column, problem, raw)
            return
        yield Parsed(
            line,
            _donation(
                external_id,
                amount,
                currency,
                when,
                get("donor"),
                get("name"),
                get("message"),
                public,
                recurring,
                _KINDS[kind_text],
                status,
            ),
        )
        if status is not Status.SUCCEEDED:
            # The same id may already be stored as succeeded: this row is then its refund.
            yield Parsed(line, RefundEvent(source="csv", external_id=external_id, status=status))


@dataclass(frozen=True, slots=True)
class _Scan:
    lines: int
    plain: bool  # no quote anywhere and no line longer than MAX_LINE_CHARS bytes


def _scan(path: Path) -> _Scan:
    """Count the lines and see whether the file can be read the fast way, a MiB at a time."""
    lines = run = 0
    plain = True
    with path.open("rb") as raw:
        while block := raw.read(1 << 20):
            if plain and b'"' in block:
                plain = False
            first = block.find(b"\n")
            if first == -1:
                run += len(block)
            else:
                plain = plain and run + first <= MAX_LINE_CHARS
                lines += block.count(b"\n")
                run = len(block) - block.rfind(b"\n") - 1
            plain = plain and run <= MAX_LINE_CHARS
    return _Scan(lines, plain)
