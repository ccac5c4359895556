"""Ko-fi transactions CSV (Ko-fi > Payments > Transactions > Download CSV).

Header: ``DateTime (UTC), From, Message, Item, Received, Given, Currency,
TransactionType, TransactionId, Reference, SalesTax, SalesTaxPercentage,
SalesTaxIncludesShipping, BuyerCountry, BuyerStateOrProvince, BuyerEmail,
PaymentProvider, DiscordUsername`` (with a UTF-8 BOM, CRLF, every cell but the first
quoted). Times are UTC, written month first to the minute (``06/24/2025 22:48``, as a
real export has them); ISO times (``2025-06-24T22:48:30Z``) are read too.

A donation's id is ``TransactionId``: the id the Ko-fi webhook sends as
``kofi_transaction_id``, so a payment seen by the webhook and in the export is
stored once, whichever comes first. ``Tip`` (what a real export calls a one-off
donation; the webhook says ``Donation``) and ``Monthly Tip``/``Subscription`` rows are
donations (the monthly ones recurring); shop orders and commissions are sales and
skipped. The amount is ``Received`` (what the supporter paid, as
the webhook's ``amount``), else ``Given``.

The export does not say whether a supporter chose to be public (the webhook's
``is_public``), so donors from the export are never named and their messages
never kept; a donation the webhook stored first keeps what the webhook said. The
donor is the pseudonym of ``BuyerEmail``, as for the webhook; the email itself is
never stored. A row without an email is an anonymous donation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.models import NewDonation, RefundEvent
from bot.ledger.pseudonym import donor_identity
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.csvutil import (
    Column,
    Record,
    RowProblem,
    open_csv,
    parse_currency,
    parse_date,
    parse_datetime,
    parse_money,
    parse_time,
)

__all__ = ["SOURCE", "KofiImporter"]

SOURCE = "kofi"  # the webhook's source too: one id space
_UTC = ZoneInfo("UTC")

_COLUMNS = (
    Column("when", ("DateTime (UTC)", "DateTime", "Date")),
    Column("type", ("TransactionType", "Type")),
    Column("transaction_id", ("TransactionId", "Transaction ID")),
    Column("received", ("Received",)),
    Column("given", ("Given",), required=False),
    Column("currency", ("Currency",)),
    Column("email", ("BuyerEmail", "Email"), required=False),
)
_DONATIONS = {"donation": False, "tip": False, "monthly tip": True, "subscription": True,
              "monthly subscription": True}  # fmt: skip
_SLASHED = re.compile(r"(\d{1,2}/\d{1,2}/\d{4})\s+(\d{1,2}:\d{2}(?::\d{2})?)")
_SALES = ("shop order", "shop", "commission")


class KofiImporter:
    """Reads a Ko-fi transactions export."""

    name = SOURCE

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        csv_file = open_csv(path, _COLUMNS, what="a Ko-fi transactions export")

        def handle(record: Record) -> Sequence[NewDonation | RefundEvent] | str:
            kind_text = record.require("type")
            kind = " ".join(kind_text.lower().split())
            if kind in _SALES:
                return f"{kind_text} is a sale, not a donation"
            if kind not in _DONATIONS:
                return f"{kind_text} is not a donation"
            currency = parse_currency(record.require("currency"), record.label("currency"))
            key = "received" if record.get("received") else "given"
            amount = parse_money(record.require(key), currency, record.label(key))
            if amount <= 0:
                raise RowProblem(record.label(key), "a donation must be more than zero")
            return [
                NewDonation(
                    source=SOURCE,
                    external_id=record.require("transaction_id"),
                    amount=amount,
                    currency=currency,
                    received_at=_when(record.require("when"), record.label("when")),
                    donor_id=donor_identity(SOURCE, None, record.get("email") or None),
                    recurring=_DONATIONS[kind],
                )
            ]

        yield from csv_file.each(handle)


def _when(value: str, column: str) -> datetime:
    """``06/24/2025 22:48`` (month first, UTC, as Ko-fi writes it) or an ISO date and time."""
    slashed = _SLASHED.fullmatch(value.strip())
    if slashed is None:
        return parse_datetime(value, column, _UTC)
    day = parse_date(slashed.group(1), column)  # month first: 06/24/2025
    return datetime.combine(day, parse_time(slashed.group(2), column), _UTC)
