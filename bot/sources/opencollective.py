"""Open Collective transactions export (``/v2/{slug}/transactions.csv``).

Only contributions count: ``type=CREDIT, kind=CONTRIBUTION`` rows that are not
refunds. Expenses, fees, host transfers and added funds are skipped with a
reason. The donor is the opposite account; guests (``guest-…``) and incognito
contributors (``incognito-…``) are never named.

A donation's id is the transaction's ``shortId`` (the first 8 hex digits of its
uuid), which the webhook computes the same way, so a contribution seen by both
is stored once. A refund row (``isRefund=REFUND``) names the original in
``shortRefundId``; an original marked ``isRefunded`` also carries its refund,
so the export alone is enough even when the refund row lies outside its dates.
Dates without an offset are read in the project's zone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.models import DonorKind, NewDonation, RefundEvent
from bot.ledger.pseudonym import donor_identity
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.csvutil import (
    Column,
    Record,
    RowProblem,
    open_csv,
    parse_currency,
    parse_datetime,
    parse_money,
)

__all__ = ["SOURCE", "OpenCollectiveImporter", "is_private_slug", "short_id", "transaction_ids"]

SOURCE = "opencollective"

_COLUMNS = (
    Column("datetime", ("datetime", "createdAt", "date")),
    Column("short_id", ("shortId",)),
    Column("type", ("type",)),
    Column("kind", ("kind",)),
    Column("is_refund", ("isRefund",)),
    Column("is_refunded", ("isRefunded",), required=False),
    Column("short_refund_id", ("shortRefundId",), required=False),
    Column("amount", ("amount",)),
    Column("currency", ("currency",)),
    Column("slug", ("oppositeAccountSlug",)),
    Column("name", ("oppositeAccountName",), required=False),
    Column("account_type", ("oppositeAccountType",), required=False),
    Column("email", ("oppositeAccountEmail",), required=False),
    Column("frequency", ("orderFrequency",), required=False),
)

_PRIVATE_PREFIXES = ("guest-", "incognito-")


def short_id(uuid: str) -> str:
    """Open Collective's short id: the first 8 characters of the transaction uuid."""
    return uuid.strip().lower()[:8]


def transaction_ids(
    *,
    legacy_id: int | str | None = None,
    uuid: str | None = None,
    short: str | None = None,
    group: str | None = None,
) -> tuple[str, tuple[str, ...]]:
    """A contribution's ids as every route writes them: ``(external_id, aliases)``.

    Each route knows a different part: the dashboard export the integer legacy id and the
    group's uuid, the older export the first 8 hex digits of the transaction's uuid
    (``shortId``) and of its group (``shortGroup``), the webhook and the API all of them.
    The short id, when known, is the external id (what earlier versions stored); then
    ``legacy:N``; then ``group:XXXXXXXX`` (a collective's export holds one credited
    contribution per transaction group). The others are aliases, so whichever route
    comes first, the others find the same donation.
    """
    ids: list[str] = []
    if uuid or short:
        ids.append(short_id(uuid or short or ""))
    if legacy_id is not None and str(legacy_id).strip():
        ids.append(f"legacy:{str(legacy_id).strip()}")
    if group:
        ids.append(f"group:{short_id(group)}")
    if not ids:
        raise ValueError("an Open Collective transaction needs at least one id")
    return ids[0], tuple(ids[1:])


def is_private_slug(slug: str) -> bool:
    """Guests and incognito contributors: counted, never named."""
    return not slug or slug.lower().startswith(_PRIVATE_PREFIXES)


def _truthy(value: str) -> bool:
    return value.strip().lower() not in ("", "false", "0", "no")


class OpenCollectiveImporter:
    """Reads an Open Collective transactions CSV."""

    name = SOURCE

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        csv_file = open_csv(path, _COLUMNS, what="an Open Collective transactions export")
        refunded: set[str] = set()

        def handle(record: Record) -> Sequence[NewDonation | RefundEvent] | str:
            kind = record.get("kind").upper()
            kind_type = record.get("type").upper()
            is_refund = _truthy(record.get("is_refund"))
            when = parse_datetime(record.require("datetime"), record.label("datetime"), tz)
            if kind != "CONTRIBUTION":
                return f"{kind_type or '?'} {kind or '?'} is not a contribution"
            if is_refund:
                original = record.get("short_refund_id").lower()
                if not original:
                    raise RowProblem(record.label("short_refund_id"), "a refund must name its original")
                if original in refunded:
                    return "refund already taken from its original's row"
                refunded.add(original)
                return [RefundEvent(SOURCE, original, received_at=when)]
            if kind_type != "CREDIT":
                return f"{kind_type or '?'} {kind} is not money received"
            external_id = short_id(record.require("short_id"))
            currency = parse_currency(record.require("currency"), record.label("currency"))
            amount = parse_money(record.require("amount"), currency, record.label("amount"))
            if amount <= 0:
                raise RowProblem(record.label("amount"), "a contribution must be positive")
            slug = record.get("slug")
            private = is_private_slug(slug)
            account_type = record.get("account_type").upper()
            donation = NewDonation(
                source=SOURCE,
                external_id=external_id,
                amount=amount,
                currency=currency,
                received_at=when,
                donor_id=donor_identity(SOURCE, slug or None, record.get("email") or None),
                public=not private,
                display_name=None if private else (record.get("name") or slug),
                recurring=record.get("frequency").upper() in ("MONTHLY", "YEARLY"),
                kind=DonorKind.ORGANISATION
                if account_type in ("ORGANIZATION", "ORGANISATION")
                else DonorKind.PERSON,
            )
            if _truthy(record.get("is_refunded")) and external_id not in refunded:
                refunded.add(external_id)
                return [donation, RefundEvent(SOURCE, external_id, received_at=when)]
            return [donation]

        yield from csv_file.each(handle)
