"""GitHub Sponsors dashboard CSV export.

One row per transaction; its ``Transaction ID`` is the donation's id. Amounts
(``$5.00``) are US dollars. ``settled`` rows are donations; ``refunded`` ones are
donations followed by their refund, so a transaction imported earlier as settled
is corrected; other statuses (pending, failed, …) are skipped. Sponsors are named
only when ``Is Public?`` says so. The donor is their GitHub handle
(``github:HANDLE``), as in the webhook; the public email column is not used, since
the webhook never has it and one sponsor must stay one donor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.models import NewDonation, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.csvutil import (
    Column,
    Record,
    RowProblem,
    open_csv,
    parse_bool,
    parse_datetime,
    parse_money,
)

__all__ = ["IDENTITY_PREFIX", "SOURCE", "GitHubSponsorsImporter"]

SOURCE = "github-sponsors"
IDENTITY_PREFIX = "github"  # donors are GitHub accounts, whichever way their money came
CURRENCY = "USD"

_COLUMNS = (
    Column("handle", ("Sponsor Handle",)),
    Column("profile_name", ("Sponsor Profile Name",), required=False),
    Column("public", ("Is Public?",)),
    Column("yearly", ("Is Yearly?",), required=False),
    Column("transaction_id", ("Transaction ID",)),
    Column("tier", ("Tier Name",), required=False),
    Column("amount", ("Processed Amount",)),
    Column("status", ("Status",)),
    Column("date", ("Transaction Date",)),
)

_REFUNDED = {"refunded": Status.REFUNDED, "disputed": Status.DISPUTED, "charged back": Status.DISPUTED}


class GitHubSponsorsImporter:
    """Reads the GitHub Sponsors dashboard CSV."""

    name = SOURCE

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        csv_file = open_csv(path, _COLUMNS, what="a GitHub Sponsors export")

        def handle(record: Record) -> Sequence[NewDonation | RefundEvent] | str:
            status = record.require("status").lower()
            if status != "settled" and status not in _REFUNDED:
                return f"status {status}"
            transaction_id = record.require("transaction_id")
            when = parse_datetime(record.require("date"), record.label("date"), tz)
            amount = parse_money(record.require("amount"), CURRENCY, record.label("amount"))
            if amount <= 0:
                raise RowProblem(record.label("amount"), "a sponsorship must be positive")
            public = parse_bool(record.get("public"), record.label("public"))
            yearly = parse_bool(record.get("yearly"), record.label("yearly"))
            handle_name = record.require("handle")
            tier = record.get("tier").lower()
            donation = NewDonation(
                source=SOURCE,
                external_id=transaction_id,
                amount=amount,
                currency=CURRENCY,
                received_at=when,
                donor_id=donor_identity(IDENTITY_PREFIX, handle_name),
                public=public,
                display_name=(record.get("profile_name") or handle_name) if public else None,
                recurring=yearly or "one time" not in tier.replace("-", " "),
            )
            refund = _REFUNDED.get(status)
            if refund is not None:
                return [donation, RefundEvent(SOURCE, transaction_id, refund, when)]
            return [donation]

        yield from csv_file.each(handle)
