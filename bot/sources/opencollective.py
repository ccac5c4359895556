"""Open Collective exports, in the three formats collectives hold, each recognised by its header.

- **dashboard** (the dashboard's "Export CSV" today): ``Effective Date & Time, Transaction ID,
  Description, Credit/Debit, Kind, Group ID, Amount Single Column, Currency, Is Reverse,
  Is Reversed, Reverse Transaction ID, …, Opposite Account Handle, Opposite Account Name, …,
  Payment Processor Fee, Tax Amount``. ``Amount Single Column`` is the *net* amount (Open
  Collective's export writes ``netAmountInHostCurrency`` there); the gift is that minus the
  fee columns present (``Payment Processor Fee``, ``Tax Amount``, ``Platform Fee``,
  ``Host Fee``: negative numbers), or ``Gross Amount`` when the export has it.
- **transactions** (the older ``/v2/{slug}/transactions.csv``): ``datetime, shortId,
  shortGroup, description, type, kind, isRefund, isRefunded, shortRefundId, displayAmount,
  amount, …``; ``amount`` is the gross amount.
- **legacy** (collectives' old downloads): ``Transaction Description, User Name, User Profile,
  Transaction Date, Collective Currency, Host Currency, Transaction Amount, …``. It has no
  transaction id at all (see below).

Times: the dashboard and transactions exports write UTC without an offset (Open
Collective's REST service formats them with ``moment.utc``): they are read as UTC. The
legacy export was made in the browser, with ``moment(date).format(…)`` in the local zone
of whoever downloaded it: its times are read in the project's zone. Only contributions count (``CREDIT`` + ``CONTRIBUTION``,
or a positive amount in the legacy format); added funds (e.g. from GitHub Sponsors),
expenses and fees are skipped with a reason. The donor is the opposite account; guests
(``guest-…``) and incognito contributors (``incognito-…``, or any account named
``Incognito``: real exports write them as ``user-xxxxxxxx`` named ``Incognito``) are counted
and never named. Recurring: the ``Contribution Frequency``/``orderFrequency`` column when the
export has it, else the description ("Monthly contribution from …", "Yearly contribution
from …"); legacy: ``Subscription Interval``. Organisation: only from an account type column
(``Opposite Account Type``/``oppositeAccountType``), which the default exports lack.

Ids: see :func:`transaction_ids`. A refund (``Is Reverse``/``isRefund``) names its
original by ``Reverse Transaction ID`` (legacy id) or ``shortRefundId`` (short id); an
original marked ``Is Reversed``/``isRefunded`` carries its refund too, so the export alone
is enough even when the refund row lies outside its dates. The legacy format has neither:
its donations get a keyed id (slug, time, amount) and are reconciled with the other
routes on donor, amount and a day either side; its refunds cannot be linked and are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.ids import keyed
from bot.ledger.models import DonorKind, NewDonation, Reconcile, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.csvutil import (
    Column,
    CsvFile,
    Record,
    RowProblem,
    normalise_header,
    open_csv,
    parse_currency,
    parse_datetime,
    parse_money,
)

__all__ = [
    "LEGACY_ROUTE",
    "SOURCE",
    "OpenCollectiveImporter",
    "is_private",
    "is_private_slug",
    "reconcile",
    "short_id",
    "shown_name",
    "transaction_ids",
]

SOURCE = "opencollective"
DAY = 86_400
LEGACY_ROUTE = "csv-legacy"  # the one route that knows no id

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


def reconcile(route: str) -> Reconcile:
    """What every route but the legacy export sets: it may meet a legacy export's donation."""
    return Reconcile(route, DAY, against=(LEGACY_ROUTE,))


def is_private_slug(slug: str) -> bool:
    """Guests and incognito contributors by their slug: counted, never named."""
    return not slug or slug.lower().startswith(_PRIVATE_PREFIXES)


def is_private(slug: str, name: str) -> bool:
    """Guests and incognito contributors, as exports and the API show them."""
    return is_private_slug(slug) or name.strip().lower() == "incognito"


def shown_name(slug: str, name: str) -> str | None:
    """The name a donation may be listed under: none for guests, incognito and accounts without a name.

    An account the export gives no name (a ``user-…`` slug and an empty name, as real
    exports have) is counted as itself but never listed under its slug.
    """
    name = name.strip()
    return None if not name or is_private(slug, name) else name


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("", "false", "0", "no")


def _recurring(frequency: str, description: str) -> bool:
    if frequency:
        return frequency.strip().upper() in ("MONTHLY", "YEARLY", "MONTH", "YEAR")
    lowered = description.strip().lower()
    return lowered.startswith(("monthly contribution", "yearly contribution"))


def _kind(account_type: str) -> DonorKind:
    upper = account_type.strip().upper()
    return DonorKind.ORGANISATION if upper in ("ORGANIZATION", "ORGANISATION") else DonorKind.PERSON


_REVERSE_KINDS = {"DISPUTE": Status.DISPUTED, "DISPUTED": Status.DISPUTED}


@dataclass(frozen=True, slots=True)
class _Variant:
    name: str
    what: str
    columns: tuple[Column, ...]

    @property
    def required(self) -> list[str]:
        return [c.label for c in self.columns if c.required]

    def missing(self, header: set[str]) -> list[str]:
        return [
            c.label
            for c in self.columns
            if c.required and not any(normalise_header(n) in header for n in c.names)
        ]


_DASHBOARD = _Variant(
    "dashboard",
    "the dashboard export (Effective Date & Time, Transaction ID, …)",
    (
        # Date & Time (creation, as the API and webhook have it) when the export has it.
        Column("when", ("Date & Time", "Effective Date & Time")),
        Column("legacy", ("Transaction ID",)),
        Column("description", ("Description",), required=False),
        Column("type", ("Credit/Debit",)),
        Column("kind", ("Kind",)),
        Column("group", ("Group ID",), required=False),
        Column("uuid", ("Transaction GraphQL ID",), required=False),
        Column("short", ("Short Transaction ID",), required=False),
        Column("short_group", ("Short Group ID",), required=False),
        Column("net", ("Amount Single Column",)),
        Column("gross", ("Gross Amount",), required=False),
        Column("fee", ("Payment Processor Fee",), required=False),
        Column("tax", ("Tax Amount",), required=False),
        Column("platform_fee", ("Platform Fee",), required=False),
        Column("host_fee", ("Host Fee",), required=False),
        Column("currency", ("Currency",)),
        Column("is_reverse", ("Is Reverse", "Is Refund"), required=False),
        Column("is_reversed", ("Is Reversed", "Is Refunded"), required=False),
        Column("reverse_id", ("Reverse Transaction ID", "Refund Transaction ID"), required=False),
        Column("reverse_kind", ("Reverse Kind",), required=False),
        Column("slug", ("Opposite Account Handle",)),
        Column("name", ("Opposite Account Name",), required=False),
        Column("account_type", ("Opposite Account Type",), required=False),
        Column("email", ("Opposite Account Email",), required=False),
        Column("frequency", ("Contribution Frequency",), required=False),
    ),
)

_TRANSACTIONS = _Variant(
    "transactions",
    "the transactions export (datetime, shortId, shortGroup, …)",
    (
        Column("when", ("datetime", "createdAt")),
        Column("short", ("shortId",)),
        Column("uuid", ("id",), required=False),
        Column("legacy", ("legacyId",), required=False),
        Column("short_group", ("shortGroup",), required=False),
        Column("group", ("group",), required=False),
        Column("description", ("description",), required=False),
        Column("type", ("type",)),
        Column("kind", ("kind",)),
        Column("is_reverse", ("isRefund",)),
        Column("is_reversed", ("isRefunded",), required=False),
        Column("reverse_short", ("shortRefundId",), required=False),
        Column("reverse_id", ("refundLegacyId",), required=False),
        Column("reverse_kind", ("refundKind",), required=False),
        Column("gross", ("amount",)),
        Column("currency", ("currency",)),
        Column("slug", ("oppositeAccountSlug",)),
        Column("name", ("oppositeAccountName",), required=False),
        Column("account_type", ("oppositeAccountType",), required=False),
        Column("email", ("oppositeAccountEmail",), required=False),
        Column("frequency", ("orderFrequency",), required=False),
    ),
)

_LEGACY = _Variant(
    "legacy",
    "the legacy export (Transaction Description, User Name, User Profile, …)",
    (
        Column("description", ("Transaction Description",)),
        Column("name", ("User Name",)),
        Column("profile", ("User Profile",)),
        Column("when", ("Transaction Date",)),
        Column("currency", ("Collective Currency",)),
        Column("gross", ("Transaction Amount",)),
        Column("interval", ("Subscription Interval",), required=False),
    ),
)

VARIANTS = (_DASHBOARD, _TRANSACTIONS, _LEGACY)


def _choose(csv_header: list[str], path: Path) -> _Variant:
    header = {normalise_header(h) for h in csv_header}
    for variant in VARIANTS:
        if not variant.missing(header):
            return variant
    closest = max(VARIANTS, key=lambda v: len(v.required) - len(v.missing(header)))
    missing = closest.missing(header)
    plural = "s" if len(missing) > 1 else ""
    raise ValueError(
        f"{path}: not an Open Collective export: the closest is {closest.what}, "
        f"missing column{plural} {', '.join(missing)}"
    )


class OpenCollectiveImporter:
    """Reads any of Open Collective's transaction exports; the variant is told by the header."""

    name = SOURCE

    def variant(self, path: Path) -> str:
        """Which export ``path`` is (``dashboard``, ``transactions`` or ``legacy``)."""
        return _choose(open_csv(path, (), what="an Open Collective export").header, path).name

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        header = open_csv(path, (), what="an Open Collective export").header
        variant = _choose(header, path)
        csv_file = open_csv(path, variant.columns, what=variant.what)
        if variant is _LEGACY:
            yield from csv_file.each(_legacy_handler(tz))
        else:
            yield from csv_file.each(_handler(csv_file, variant))


def _amount(record: Record, key: str, currency: str) -> int:
    text = record.get(key)
    return parse_money(text, currency, record.label(key), allow_negative=True) if text else 0


def _handler(
    csv_file: CsvFile, variant: _Variant
) -> Callable[[Record], Sequence[NewDonation | RefundEvent] | str]:
    refunded: set[str] = set()
    route = f"csv-{variant.name}"
    fees = [key for key in ("fee", "tax", "platform_fee", "host_fee") if csv_file.has(key)]
    gross_column = csv_file.has("gross")

    def ids(record: Record) -> tuple[str, tuple[str, ...]]:
        try:
            return transaction_ids(
                legacy_id=record.get("legacy") or None,
                uuid=record.get("uuid") or None,
                short=record.get("short") or None,
                group=record.get("group") or record.get("short_group") or None,
            )
        except ValueError:
            raise RowProblem(
                record.label("legacy" if variant is _DASHBOARD else "short"), "is empty"
            ) from None

    def handle(record: Record) -> Sequence[NewDonation | RefundEvent] | str:
        kind = record.get("kind").upper()
        kind_type = record.get("type").upper()
        if kind != "CONTRIBUTION":
            return f"{kind_type or '?'} {kind or '?'} is not a contribution"
        when_text = record.get("when")
        if not when_text:
            return "no date yet (not cleared)"
        when = parse_datetime(when_text, record.label("when"), UTC)
        if _flag(record.get("is_reverse")):
            status = _REVERSE_KINDS.get(record.get("reverse_kind").upper(), Status.REFUNDED)
            if record.get("reverse_id"):
                original = f"legacy:{record.get('reverse_id')}"
            elif record.get("reverse_short"):
                original = short_id(record.get("reverse_short"))
            else:
                label = record.label("reverse_id" if variant is _DASHBOARD else "reverse_short")
                raise RowProblem(label, "a refund must name its original")
            if original in refunded:
                return "refund already taken from its original's row"
            refunded.add(original)
            return [RefundEvent(SOURCE, original, status, received_at=when)]
        if kind_type != "CREDIT":
            return f"{kind_type or '?'} {kind} is not money received"
        external_id, aliases = ids(record)
        currency = parse_currency(record.require("currency"), record.label("currency"))
        if gross_column and record.get("gross"):
            amount = _amount(record, "gross", currency)
        else:
            amount = _amount(record, "net", currency) - sum(_amount(record, key, currency) for key in fees)
        if amount <= 0:
            raise RowProblem(
                record.label("gross" if gross_column else "net"), "a contribution must be positive"
            )
        slug = record.get("slug")
        name = shown_name(slug, record.get("name"))
        donation = NewDonation(
            source=SOURCE,
            external_id=external_id,
            aliases=aliases,
            amount=amount,
            currency=currency,
            received_at=when,
            donor_id=donor_identity(SOURCE, slug or None, record.get("email") or None),
            public=name is not None,
            display_name=name,
            recurring=_recurring(record.get("frequency"), record.get("description")),
            kind=_kind(record.get("account_type")),
            reconcile=reconcile(route),
        )
        if _flag(record.get("is_reversed")):
            own = {external_id, *aliases}
            if not own & refunded:
                refunded.update(own)
                return [donation, RefundEvent(SOURCE, external_id, received_at=when)]
        return [donation]

    return handle


def _legacy_handler(tz: ZoneInfo) -> Callable[[Record], Sequence[NewDonation | RefundEvent] | str]:
    seen: dict[str, int] = {}

    def handle(record: Record) -> Sequence[NewDonation | RefundEvent] | str:
        currency = parse_currency(record.require("currency"), record.label("currency"))
        amount = parse_money(record.require("gross"), currency, record.label("gross"), allow_negative=True)
        description = record.get("description")
        if amount <= 0:
            if description.lower().startswith("refund"):
                return "refund (the legacy export does not say of which contribution)"
            return "money sent, not received"
        when = parse_datetime(record.require("when"), record.label("when"), tz)
        profile = record.get("profile").rstrip("/")
        slug = profile.rsplit("/", 1)[-1] if profile else ""
        name = shown_name(slug, record.get("name"))
        # No id: the slug, the time and the amount, keyed (the slug is the person's platform id).
        key = f"{slug}:{record.get('when')}:{amount}:{currency}"
        seen[key] = seen.get(key, 0) + 1
        return [
            NewDonation(
                source=SOURCE,
                external_id=keyed(f"legacy-export:{key}:{seen[key]}"),
                amount=amount,
                currency=currency,
                received_at=when,
                donor_id=donor_identity(SOURCE, slug or None),
                public=name is not None,
                display_name=name,
                recurring=record.get("interval").lower() in ("month", "year", "monthly", "yearly"),
                reconcile=Reconcile(LEGACY_ROUTE, DAY),
            )
        ]

    return handle
