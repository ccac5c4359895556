"""donorbot's own CSV format, for offline donations and exports from anywhere else.

Columns (header required, order free): ``id, date, amount, currency`` are
required; ``donor, name, public, message, recurring, kind, status`` are optional.
See the README for what each holds.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.dates import EARLIEST_SECONDS, date_problem, latest_seconds
from bot.ledger.models import DonorKind, NewDonation, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.money import MoneyError, is_currency, parse_amount
from bot.sources.base import Parsed, RowError, Skipped

__all__ = ["COLUMNS", "NativeCsvImporter", "parse_bool", "parse_when"]

REQUIRED = ("id", "date", "amount", "currency")
COLUMNS = (*REQUIRED, "donor", "name", "public", "message", "recurring", "kind", "status")
_TRUE = {"1", "true", "yes", "y", "oui"}
_FALSE = {"", "0", "false", "no", "n", "non"}
_KINDS = {"person": DonorKind.PERSON, "organisation": DonorKind.ORGANISATION,
          "organization": DonorKind.ORGANISATION, "org": DonorKind.ORGANISATION}  # fmt: skip
# A date without a time is read as noon in the project's zone: safely inside that day.
_NOON = time(12)


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{text!r} is not yes/no (use true or false)")


def parse_when(text: str, tz: ZoneInfo) -> datetime:
    """``2025-12-31``, ``2025-12-31T23:30:00Z`` or with an offset; naive times are in ``tz``."""
    raw = text.strip()
    if not raw:
        raise ValueError("is empty")
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

    def __init__(self, index: dict[str, int], tz: ZoneInfo) -> None:
        self.tz = tz
        self.latest = latest_seconds()  # once: an import lasts seconds, the skew allows a day
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
            amount = parse_amount(raw, currency)
        except MoneyError:
            return None
        if amount == 0:
            return None
        if len(self.amounts) >= _CACHE_LIMIT:
            self.amounts.clear()
        self.amounts[(raw, currency)] = amount
        return amount


class NativeCsvImporter:
    name = "csv"

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        try:
            yield from self._rows(path, tz)
        except UnicodeDecodeError:
            line = _first_line_not_utf8(path)
            raise ValueError(f"{path}:{line}: not UTF-8 text (save the file as UTF-8)") from None

    def _rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            try:
                header = [h.strip().lower() for h in next(reader)]
            except StopIteration:
                raise ValueError(f"{path}: the file is empty (expected a header line)") from None
            missing = [c for c in REQUIRED if c not in header]
            unknown = [c for c in header if c not in COLUMNS]
            if missing or unknown:
                problems = []
                if missing:
                    problems.append(f"missing column(s) {', '.join(missing)}")
                if unknown:
                    problems.append(f"unknown column(s) {', '.join(unknown)}")
                raise ValueError(f"{path}:1: {'; '.join(problems)} (columns: {', '.join(COLUMNS)})")
            index = {name: header.index(name) for name in header}
            width = len(header)
            fast = _FastRows(index, tz)
            for fields in reader:
                line = reader.line_num
                if len(fields) != width:
                    if not fields or (len(fields) == 1 and not fields[0].strip()):
                        continue
                    yield RowError(line, "(row)", f"has {len(fields)} fields, the header has {width}",
                                   ",".join(fields))  # fmt: skip
                    continue
                donation = fast.parse(fields)
                if donation is None:
                    # Anything unusual (a bad value, a refund, a bare date): the careful path,
                    # which also words the error.
                    yield from self._row(fields, index, line, tz)
                else:
                    yield Parsed(line, donation)

    def _row(
        self, fields: list[str], index: dict[str, int], line: int, tz: ZoneInfo
    ) -> Iterator[Parsed | RowError]:
        def get(column: str) -> str:
            i = index.get(column)
            return fields[i].strip() if i is not None else ""

        raw = ",".join(fields)
        column = "id"
        try:
            external_id = get("id")
            if not external_id:
                raise ValueError("is empty")
            column = "currency"
            currency = get("currency").upper()
            if not is_currency(currency):
                raise ValueError(f"{get('currency')!r} is not an ISO 4217 code")
            column = "amount"
            amount = parse_amount(get("amount"), currency)
            if amount == 0:
                raise ValueError("must be more than zero")
            column = "date"
            when = parse_when(get("date"), tz)
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
