"""GitHub Sponsors dashboard CSV export.

One charge per ``Transaction ID``. A prorated tier change writes several lines under one
``Transaction ID`` (e.g. ``$100.00`` and ``$-20.00``): they are one payment and are
summed (net); the donation is read from the first line, the others are reported as
netted into it. Amounts (``$5.00``) are US dollars. ``settled`` charges are donations;
``refunded`` ones are donations followed by their refund, so a charge imported earlier
as settled is corrected; other statuses (pending, failed, …) are skipped. Dates carry
their offset (``2023-05-07 21:45:50 +0200``, or ``… UTC``); one without is read in
the project's zone. Sponsors are named only when
``Is Public?`` says so. The donor is their GitHub handle (``github:HANDLE``), as in the
webhook; the public email column is not used, since the webhook never has it and one
sponsor must stay one donor. Recurring unless the tier is one-time; the export has no
account type, so organisations are not told apart.

The webhook's ``sponsorship.created`` and the charge line share no id: both carry
:func:`reconcile` (donor, the tier's monthly price, two days either side), so a new
sponsorship seen by both is stored once, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.models import NewDonation, Reconcile, RefundEvent, Status
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

_REFUNDED = {"refunded": Status.REFUNDED, "disputed": Status.DISPUTED, "charged back": Status.DISPUTED}


def reconcile(route: str, tier_cents: int | None) -> Reconcile:
    """What every GitHub Sponsors route sets: a new sponsorship and its first charge are one payment."""
    return Reconcile(route, RECONCILE_WINDOW, amount=tier_cents)


class GitHubSponsorsImporter:
    """Reads the GitHub Sponsors dashboard CSV."""

    name = SOURCE

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        csv_file = open_csv(path, _COLUMNS, what="a GitHub Sponsors export")
        records = list(csv_file.records())
        lines: dict[str, list[Record]] = {}
        for record in records:
            lines.setdefault(record.get("transaction_id"), []).append(record)
        width = len(csv_file.header)
        for record in records:
            if len(record.fields) > width:
                problem = f"{len(record.fields)} values but the header has {width} columns"
                yield RowError(record.line, "(row)", problem, record.raw)
                continue
            group = lines[record.get("transaction_id")]
            if record is not group[0]:
                yield Skipped(record.line, "netted into the first line of its Transaction ID")
                continue
            try:
                outcome = _charge(group, tz)
            except RowProblem as exc:
                yield RowError(record.line, exc.column, exc.problem, record.raw)
                continue
            if isinstance(outcome, str):
                yield Skipped(record.line, outcome)
            else:
                for item in outcome:
                    yield Parsed(record.line, item)


def _charge(group: list[Record], tz: ZoneInfo) -> list[NewDonation | RefundEvent] | str:
    first = group[0]
    status = first.require("status").lower()
    if status != "settled" and status not in _REFUNDED:
        return f"status {status}"
    transaction_id = first.require("transaction_id")
    when = parse_datetime(first.require("date"), first.label("date"), tz)
    amount = sum(
        parse_money(line.require("amount"), CURRENCY, line.label("amount"), allow_negative=True)
        for line in group
    )
    if amount <= 0:
        if len(group) == 1:
            raise RowProblem(first.label("amount"), "a sponsorship must be positive")
        return "its lines net to nothing received"
    tier_text = first.get("tier_amount")
    tier_cents = parse_money(tier_text, CURRENCY, first.label("tier_amount")) if tier_text else None
    public = parse_bool(first.get("public"), first.label("public"))
    yearly = parse_bool(first.get("yearly"), first.label("yearly"))
    handle_name = first.require("handle")
    tier = first.get("tier").lower()
    donation = NewDonation(
        source=SOURCE,
        external_id=transaction_id,
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
        return [donation, RefundEvent(SOURCE, transaction_id, refund, when)]
    return [donation]
