"""Open Collective: unsigned JSON, so the URL carries a secret path segment.

``collective.transaction.created`` for a ``CREDIT``/``CONTRIBUTION`` is a
donation; its id is the transaction's short id (first 8 characters of the uuid),
the same as the CSV export's ``shortId``, so both sources store it once. A refund
transaction is applied when the payload names the original's uuid
(``data.transaction.refundTransaction.uuid``); ``contribution.refunded`` comes with
empty ``data`` and is ignored (import the transactions export to apply it).
Incognito donors arrive reduced to ``{type, name, image}``: counted, anonymous.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.ledger.models import DonorKind, NewDonation, RefundEvent
from bot.ledger.pseudonym import donor_identity
from bot.sources.opencollective import SOURCE, is_private_slug, short_id
from bot.sources.webhooks.common import (
    Ignored,
    Outcome,
    as_bool,
    as_currency,
    as_object,
    as_text,
    as_time,
    cents_to_minor,
    load_json,
    maybe_object,
)

__all__ = ["SOURCE", "parse"]


def parse(body: bytes, headers: Mapping[str, str]) -> Outcome:
    event = as_object(load_json(body), "body")
    kind = as_text(event, "type", "body")
    if kind != "collective.transaction.created":
        return Ignored(f"Open Collective {kind} is not a transaction")
    data = as_object(event.get("data"), "data")
    transaction = as_object(data.get("transaction"), "data.transaction")
    if as_text(transaction, "kind", "data.transaction", required=False).upper() != "CONTRIBUTION":
        return Ignored("transaction is not a contribution")
    when = as_time(transaction.get("createdAt") or event.get("createdAt"), "data.transaction.createdAt")
    if as_bool(transaction.get("isRefund"), "data.transaction.isRefund"):
        refunded = transaction.get("refundTransaction")
        uuid = (
            as_text(refunded, "uuid", "refundTransaction", required=False)
            if isinstance(refunded, dict)
            else ""
        )
        if not uuid:
            return Ignored("refund without its original's uuid; import the transactions export")
        return [RefundEvent(SOURCE, short_id(uuid), received_at=when)]
    if as_text(transaction, "type", "data.transaction").upper() != "CREDIT":
        return Ignored("contribution debit is not money received")
    uuid = as_text(transaction, "uuid", "data.transaction", required=False)
    external_id = short_id(uuid) if uuid else as_text(transaction, "id", "data.transaction")
    currency = as_currency(transaction.get("currency"), "data.transaction.currency")
    amount = cents_to_minor(transaction.get("amount"), currency, "data.transaction.amount")
    if amount == 0:
        return Ignored("contribution of zero")
    donor = maybe_object(data.get("fromCollective"))
    slug = as_text(donor, "slug", "fromCollective", required=False)
    private = is_private_slug(slug)
    name = as_text(donor, "name", "fromCollective", required=False) or slug
    return [
        NewDonation(
            source=SOURCE,
            external_id=external_id,
            amount=amount,
            currency=currency,
            received_at=when,
            donor_id=donor_identity(SOURCE, slug or None),
            public=not private,
            display_name=None if private else name,
            kind=DonorKind.ORGANISATION
            if as_text(donor, "type", "fromCollective", required=False).upper() == "ORGANIZATION"
            else DonorKind.PERSON,
        )
    ]
