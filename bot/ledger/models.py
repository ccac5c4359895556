"""What the ledger stores, and what importers and webhooks hand to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["DonorKind", "NewDonation", "Reconcile", "RefundEvent", "Status", "WriteResult"]


class Status(StrEnum):
    SUCCEEDED = "succeeded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


class DonorKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


@dataclass(frozen=True, slots=True)
class Reconcile:
    """How to recognise a payment that another route of the same platform reported under another id.

    When none of a donation's ids is known, the ledger looks for a donation of the same
    source, the same donor pseudonym, amount and currency, received within ``window``
    seconds, that was stored by a different ``route`` (one of ``against`` when given) and
    that no donation of this route has matched yet (the closest in time wins). If there is one, this donation is that
    payment: it is not stored again, and its ids become that donation's aliases. A payment
    whose route names no donor (Open Collective's webhook for an incognito contributor) is
    matched to a private donation of the same amount and time, and the other way round.
    """

    route: str  # e.g. "webhook", "csv", "api": who reported the payment
    window: int  # seconds either side
    # Only these routes' donations may be matched (empty: any other route). A route that can
    # also be told by id lists the one route that cannot, so an id mismatch never merges two.
    against: tuple[str, ...] = ()
    # The amount to match on, when the routes know the payment by another figure than the one
    # stored (GitHub: the tier's price, which the webhook has, rather than a prorated charge).
    amount: int | None = None


@dataclass(slots=True)  # not frozen: a frozen dataclass is built several times slower, per row of an import
class NewDonation:
    """A donation as a source reports it, before pseudonymisation. Not changed once made.

    ``donor_id`` is the platform-qualified identifier made by
    :func:`bot.ledger.pseudonym.donor_identity` (``email:jo@example.com`` or
    ``opencollective:guest-cf5e5bf5``); the ledger stores only its HMAC.
    ``display_name`` and ``message`` are dropped unless ``public`` is true.
    """

    source: str
    external_id: str
    amount: int  # minor units of ``currency``; never a float
    currency: str  # ISO 4217, upper case
    received_at: datetime  # aware
    donor_id: str | None = None  # None: anonymous, counts as one donor
    public: bool = False
    display_name: str | None = None
    message: str | None = None
    recurring: bool = False
    kind: DonorKind = DonorKind.PERSON
    status: Status = Status.SUCCEEDED
    # Other ids of the same payment (each route of a platform may know it by a different
    # one): the donation is stored once whichever of them arrives first, and a refund may
    # name any of them. See the README's architecture section.
    aliases: tuple[str, ...] = ()
    reconcile: Reconcile | None = None


@dataclass(frozen=True, slots=True)
class RefundEvent:
    """A refund or dispute of an earlier donation of the same source.

    When the original has not arrived yet the event is kept and applied when it
    does (platform exports and webhooks do not promise an order).
    """

    source: str
    external_id: str  # the ORIGINAL donation's id, or any of its aliases
    status: Status = Status.REFUNDED
    received_at: datetime | None = None


@dataclass(slots=True)
class WriteResult:
    """What one write to the ledger did."""

    inserted: int = 0
    duplicates: int = 0
    refunds_applied: int = 0
    refunds_pending: int = 0
    months: set[int] | None = None  # month keys whose figures changed

    def merge(self, other: WriteResult) -> None:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.refunds_applied += other.refunds_applied
        self.refunds_pending += other.refunds_pending
        if other.months:
            self.months = (self.months or set()) | other.months
