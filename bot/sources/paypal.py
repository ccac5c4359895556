"""PayPal activity CSV (Activity > Statements > Download).

Columns vary by export and account, so they are found by name. Donations are
``Donation Received`` / ``Donation Payment`` and ``Subscription Payment
Received`` rows with ``Status = Completed`` and money coming in; a ``Refund``,
``Chargeback`` or ``Chargeback Settlement`` row refunds the transaction named in
``Reference Txn ID``. Everything else (sales, transfers, fees, holds) is skipped.

Dates follow the account's locale: ``MM/DD/YYYY`` (US), ``DD/MM/YYYY``,
``DD.MM.YYYY`` or ``YYYY-MM-DD``. Whether slashes put the day or the month first
is decided once per file from the dates themselves (a first number above 12
means day first); when every date is ambiguous, a file written with decimal
commas or ``;`` separators is read day first, any other month first. The time
is read in the row's ``TimeZone`` (``PDT``, ``CET``, ``GMT+01:00``,
``Europe/Paris``), or the project's zone when the column is absent or empty.

PayPal says nothing about whether a donor is public, so PayPal donors are never
named. The donor is the sender's email.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime, time, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.models import NewDonation, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.csvutil import (
    Column,
    CsvFile,
    Record,
    RowProblem,
    open_csv,
    parse_currency,
    parse_date,
    parse_money,
    parse_time,
    parse_zone,
)

__all__ = ["SOURCE", "PayPalImporter"]

SOURCE = "paypal"

_COLUMNS = (
    Column("date", ("Date",)),
    Column("time", ("Time",), required=False),
    Column("zone", ("TimeZone", "Time zone", "Time Zone", "TZ"), required=False),
    Column("type", ("Type", "Description")),
    Column("status", ("Status",)),
    Column("currency", ("Currency",)),
    Column("gross", ("Gross",)),
    Column("email", ("From Email Address", "From Email", "Sender Email"), required=False),
    Column("transaction_id", ("Transaction ID",)),
    Column("reference", ("Reference Txn ID", "Reference Transaction ID"), required=False),
    Column("impact", ("Balance Impact",), required=False),
)

_DONATIONS = {
    "donation received": False,
    "donation payment": False,
    "subscription payment received": True,
    "subscription payment": True,
    "recurring payment received": True,
}
_REFUNDS = {
    "refund": Status.REFUNDED,
    "payment refund": Status.REFUNDED,
    "chargeback": Status.DISPUTED,
    "chargeback settlement": Status.DISPUTED,
    "payment reversal": Status.DISPUTED,
}
_SLASHED = re.compile(r"^\s*(\d{1,2})[/-](\d{1,2})[/-]\d{2,4}\s*$")


def _day_first(csv_file: CsvFile) -> bool:
    """Whether ``a/b/yyyy`` dates in this file are day first (see the module docstring)."""
    day_first = month_first = False
    decimal_comma = False
    for record in csv_file.records():
        match = _SLASHED.match(record.get("date"))
        if match:
            day_first |= int(match.group(1)) > 12
            month_first |= int(match.group(2)) > 12
        decimal_comma |= bool(re.search(r"\d,\d{2}$", record.get("gross")))
    if day_first and month_first:
        raise ValueError(
            f"{csv_file.path}: the Date column mixes day-first and month-first dates; "
            "export again with one locale"
        )
    if day_first or month_first:
        return day_first
    return decimal_comma or csv_file.delimiter == ";"


class PayPalImporter:
    """Reads a PayPal activity CSV."""

    name = SOURCE

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        csv_file = open_csv(path, _COLUMNS, what="a PayPal activity export")
        day_first = _day_first(csv_file)

        def when(record: Record) -> datetime:
            day = parse_date(record.require("date"), record.label("date"), day_first=day_first)
            time_text = record.get("time")
            at = parse_time(time_text, record.label("time")) if time_text else time()
            zone_text = record.get("zone")
            zone: tzinfo = parse_zone(zone_text, record.label("zone")) if zone_text else tz
            return datetime.combine(day, at, zone)

        def handle(record: Record) -> Sequence[NewDonation | RefundEvent] | str:
            kind = " ".join(record.require("type").lower().split())
            status = record.get("status")
            if kind in _REFUNDS:
                if status.lower() != "completed":
                    return f"{record.get('type')} with status {status or 'empty'}"
                original = record.get("reference")
                if not original:
                    raise RowProblem(record.label("reference"), "a refund must name its original")
                return [RefundEvent(SOURCE, original, _REFUNDS[kind], when(record))]
            if kind not in _DONATIONS:
                return f"{record.get('type')} is not a donation"
            if status.lower() != "completed":
                return f"{record.get('type')} with status {status or 'empty'}"
            if record.get("impact").lower() == "debit":
                return f"{record.get('type')} sent, not received"
            currency = parse_currency(record.require("currency"), record.label("currency"))
            amount = parse_money(record.require("gross"), currency, record.label("gross"))
            if amount <= 0:
                raise RowProblem(record.label("gross"), "a donation received must be positive")
            return [
                NewDonation(
                    source=SOURCE,
                    external_id=record.require("transaction_id"),
                    amount=amount,
                    currency=currency,
                    received_at=when(record),
                    donor_id=donor_identity(SOURCE, None, record.get("email") or None),
                    recurring=_DONATIONS[kind],
                )
            ]

        yield from csv_file.each(handle)
