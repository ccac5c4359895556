"""GitHub Sponsors dashboard export, as CSV or as JSON (Sponsors dashboard > Your sponsors > Export).

**CSV**: ``Sponsor Handle, Sponsor Profile Name, Sponsor Public Email, Sponsorship Started
On, Is Public?, Is Yearly?, Transaction ID, [Payment Source,] Tier Name, Tier Monthly
Amount, Processed Amount, Is Prorated?, Status, Transaction Date, Metadata, Country,
Region, VAT``, a line per charge line. **JSON**: an array of sponsorships
(``sponsor_handle``, ``is_public``, ``is_yearly``, ``transactions``: ``transaction_id``,
``tier_name``, ``tier_monthly_amount``, ``processed_amount``, ``is_prorated``, ``status``,
``transaction_date``…); the same charges, read the same way. The JSON file is decoded a
sponsorship at a time (:mod:`bot.sources.jsonarray`); its errors name the sponsorship
and the transaction.

One charge per ``Transaction ID``. A prorated tier change writes several lines under one
``Transaction ID`` (e.g. ``$1.07`` for the new tier and ``$-0.53`` for the old): they are
one payment and are summed (net); the donation is read from the first line, the others
are reported as netted into it. A line repeated under another sponsorship of the same
sponsor (the export lists a sponsor's charges under each of its sponsorships) is counted
once. Older transfers have no ``Transaction ID`` nor ``Status``: each is a payment of its
own, under a keyed id (handle, date, amount). Amounts (``$5.00``) are US dollars.
``settled`` charges are donations; ``refunded`` ones are donations followed by their
refund, so a charge imported earlier as settled is corrected; other statuses (pending,
failed, …) are skipped. Dates carry their offset (``2023-05-07 21:45:50 +0200``,
``2024-07-06T22:00:32.000-04:00``, or ``… UTC``); one without is read in the project's
zone. Sponsors are named only when ``Is Public?`` says so. The donor is their GitHub
handle (``github:HANDLE``), as in the webhook; the public email is not used, since the
webhook never has it and one sponsor must stay one donor. Recurring unless the tier is
one-time; the export has no account type, so organisations are not told apart.

The webhook's ``sponsorship.created`` and the charge line share no id: both carry
:func:`reconcile` (donor, the tier's monthly price, two days either side), so a new
sponsorship seen by both is stored once, whichever comes first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.ledger.ids import keyed
from bot.ledger.models import NewDonation, Reconcile, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.csvutil import (
    Column,
    RowProblem,
    open_csv,
    parse_bool,
    parse_datetime,
    parse_money,
)
from bot.sources.jsonarray import is_json_array, json_objects

__all__ = ["IDENTITY_PREFIX", "RECONCILE_WINDOW", "SOURCE", "GitHubSponsorsImporter", "reconcile"]

SOURCE = "github-sponsors"
IDENTITY_PREFIX = "github"  # donors are GitHub accounts, whichever way their money came
CURRENCY = "USD"
RECONCILE_WINDOW = int(timedelta(days=2).total_seconds())

_COLUMNS = (
    Column("handle", ("Sponsor Handle",)),
    Column("profile_name", ("Sponsor Profile Name",), required=False),
    Column("public", ("Is Public?",)),
    Column("yearly", ("Is Yearly?",), required=False),
    Column("transaction_id", ("Transaction ID",)),
    Column("tier", ("Tier Name",), required=False),
    Column("tier_amount", ("Tier Monthly Amount",), required=False),
    Column("amount", ("Processed Amount",)),
    Column("status", ("Status",)),
    Column("date", ("Transaction Date",)),
)
# The JSON export's keys for the same values: on the sponsorship, then on each transaction.
_JSON_SPONSORSHIP = {"handle": "sponsor_handle", "profile_name": "sponsor_profile_name",
                     "public": "is_public", "yearly": "is_yearly"}  # fmt: skip
_JSON_TRANSACTION = {"transaction_id": "transaction_id", "tier": "tier_name",
                     "tier_amount": "tier_monthly_amount", "amount": "processed_amount",
                     "status": "status", "date": "transaction_date"}  # fmt: skip
_JSON_REQUIRED = ("sponsor_handle", "is_public", "transactions")

_REFUNDED = {"refunded": Status.REFUNDED, "disputed": Status.DISPUTED, "charged back": Status.DISPUTED}
_SAME_LINE = ("handle", "tier", "amount", "status", "date")  # a line repeated under another sponsorship


def reconcile(route: str, tier_cents: int | None) -> Reconcile:
    """What every GitHub Sponsors route sets: a new sponsorship and its first charge are one payment."""
    return Reconcile(route, RECONCILE_WINDOW, amount=tier_cents)


class _Line(Protocol):
    """One charge line, from a CSV row or a JSON transaction."""

    @property
    def line(self) -> int: ...
    @property
    def raw(self) -> str: ...
    def get(self, key: str) -> str: ...
    def require(self, key: str) -> str: ...
    def label(self, key: str) -> str: ...


@dataclass(frozen=True, slots=True)
class _JsonLine:
    """A transaction of the JSON export, with its sponsorship's values; ``line`` numbers transactions."""

    line: int
    where: str
    values: dict[str, str]
    sponsorship: dict[str, Any]
    transaction: dict[str, Any]

    @property
    def raw(self) -> str:
        """The sponsorship with this transaction alone (for the rejected-rows file)."""
        return json.dumps({**self.sponsorship, "transactions": [self.transaction]}, ensure_ascii=False)

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def require(self, key: str) -> str:
        value = self.get(key)
        if not value:
            raise RowProblem(self.label(key), "is empty")
        return value

    def label(self, key: str) -> str:
        return _JSON_TRANSACTION.get(key) or _JSON_SPONSORSHIP.get(key, key)


class GitHubSponsorsImporter:
    """Reads the GitHub Sponsors dashboard export (CSV or JSON)."""

    name = SOURCE

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        if is_json_array(path):
            yield from _charges(lambda: _json_lines(path), tz)
            return
        csv_file = open_csv(path, _COLUMNS, what="a GitHub Sponsors export")
        width = len(csv_file.header)

        def lines() -> Iterator[_Line | RowError]:
            for record in csv_file.records():
                if len(record.fields) > width:
                    problem = f"{len(record.fields)} values but the header has {width} columns"
                    yield RowError(record.line, "(row)", problem, record.raw)
                else:
                    yield record

        yield from _charges(lines, tz)


def _json_lines(path: Path) -> Iterator[_JsonLine | RowError]:
    number = 0
    for index, sponsorship in json_objects(path):
        missing = [key for key in _JSON_REQUIRED if key not in sponsorship]
        transactions = sponsorship.get("transactions")
        if missing or not isinstance(transactions, list):
            number += 1
            what = f"no {', '.join(missing)}" if missing else "`transactions` is not a list"
            raw = json.dumps(sponsorship, ensure_ascii=False)
            yield RowError(
                number, "(sponsorship)", f"{what}: not a GitHub Sponsors export", raw, f"sponsorship {index}"
            )
            continue
        shared = {key: _text(sponsorship.get(name)) for key, name in _JSON_SPONSORSHIP.items()}
        for position, transaction in enumerate(transactions, 1):
            number += 1
            where = f"sponsorship {index}, transaction {position}"
            if not isinstance(transaction, dict):
                raw = json.dumps({**sponsorship, "transactions": [transaction]}, ensure_ascii=False)
                yield RowError(number, "(transaction)", "is not an object", raw, where)
                continue
            values = shared | {key: _text(transaction.get(name)) for key, name in _JSON_TRANSACTION.items()}
            yield _JsonLine(number, where, values, sponsorship, transaction)


def _text(value: object) -> str:
    """A JSON value as the CSV export writes it (``true``, ``$5.00``; null is empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


@dataclass(slots=True)
class _Charge:
    """What the first pass learns of one Transaction ID: its net amount, and which lines repeat.

    Kept for every charge of the file until the end, so kept small: tuples (the usual
    charge has one line) and hashes of lines, not the lines.
    """

    first: int  # the line the donation is read from
    amount: int = 0
    lines: int = 0
    seen: tuple[int, ...] = ()
    repeated: tuple[int, ...] = ()
    problem: RowProblem | None = None
    outcome: list[NewDonation | RefundEvent] | str | RowProblem | None = None


def _charges(
    lines: Callable[[], Iterator[_Line | RowError]], tz: ZoneInfo
) -> Iterator[Parsed | Skipped | RowError]:
    """Every line, grouped into charges by ``Transaction ID`` (a line without one is its own charge).

    The lines of one charge may be anywhere in the file, so it is read twice: first to net
    each charge's lines (a few numbers per charge are kept, not the lines), then to turn
    each charge's first line into its donation.
    """
    charges: dict[str, _Charge] = {}
    for line in lines():
        if isinstance(line, RowError):
            continue
        key = _charge_key(line)
        charge = charges.get(key)
        if charge is None:
            charge = charges[key] = _Charge(line.line)
        same = hash(tuple(line.get(k) for k in _SAME_LINE))
        if same in charge.seen:
            charge.repeated += (line.line,)
            continue
        charge.seen += (same,)
        charge.lines += 1
        try:
            charge.amount += parse_money(
                line.require("amount"), CURRENCY, line.label("amount"), allow_negative=True
            )
        except RowProblem as exc:
            charge.problem = charge.problem or exc
    for line in lines():
        if isinstance(line, RowError):
            yield line
            continue
        charge = charges[_charge_key(line)]
        where = getattr(line, "where", "")
        if charge.outcome is None:  # the charge's first line
            try:
                if charge.problem is not None:
                    raise charge.problem
                charge.outcome = _charge(line, charge.amount, charge.lines, tz)
            except RowProblem as exc:
                charge.outcome = exc
        outcome = charge.outcome
        if isinstance(outcome, RowProblem):  # every line of the charge goes to the rejected rows
            yield RowError(line.line, outcome.column, outcome.problem, line.raw, where)
        elif line.line != charge.first:
            repeated = line.line in charge.repeated
            yield Skipped(
                line.line,
                "repeated under another sponsorship"
                if repeated
                else "netted into the first line of its Transaction ID",
            )
        elif isinstance(outcome, str):
            yield Skipped(line.line, outcome)
        else:
            for item in outcome:
                yield Parsed(line.line, item)
            charge.outcome = _STORED  # the donation itself is not kept to the end of the file


_STORED: list[NewDonation | RefundEvent] = []


def _charge_key(line: _Line) -> str:
    return line.get("transaction_id") or f"line {line.line}"


def _charge(first: _Line, amount: int, lines: int, tz: ZoneInfo) -> list[NewDonation | RefundEvent] | str:
    """The donation (and refund) of one charge, read from its first line; ``amount`` is its net."""
    transaction_id = first.get("transaction_id")
    status = first.get("status").lower()
    if not transaction_id and not status:
        status = "settled"  # an older transfer: the export lists only completed ones
    elif not status:
        raise RowProblem(first.label("status"), "is empty")
    if status != "settled" and status not in _REFUNDED:
        return f"status {status}"
    when = parse_datetime(first.require("date"), first.label("date"), tz)
    if amount <= 0:
        if lines == 1:
            raise RowProblem(first.label("amount"), "a sponsorship must be positive")
        return "its lines net to nothing received"
    tier_text = first.get("tier_amount")
    tier_cents = parse_money(tier_text, CURRENCY, first.label("tier_amount")) if tier_text else None
    public = parse_bool(first.get("public"), first.label("public"))
    yearly = parse_bool(first.get("yearly"), first.label("yearly"))
    handle_name = first.require("handle")
    tier = first.get("tier").lower()
    # An older transfer has no id: the handle (a person's platform id), the time and the amount, keyed.
    external_id = transaction_id or keyed(f"transfer:{handle_name}:{when.isoformat()}:{amount}")
    donation = NewDonation(
        source=SOURCE,
        external_id=external_id,
        amount=amount,
        currency=CURRENCY,
        received_at=when,
        donor_id=donor_identity(IDENTITY_PREFIX, handle_name),
        public=public,
        display_name=(first.get("profile_name") or handle_name) if public else None,
        recurring=yearly or "one time" not in tier.replace("-", " "),
        reconcile=reconcile("csv", tier_cents),
    )
    refund = _REFUNDED.get(status)
    if refund is not None:
        return [donation, RefundEvent(SOURCE, external_id, refund, when)]
    return [donation]
