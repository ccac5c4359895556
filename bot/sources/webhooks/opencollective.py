"""Open Collective: unsigned JSON, so the URL carries a secret path segment.

The payload is what opencollective-api's ``sanitizeActivityForWebhookPayload`` builds:
``{id, type, createdAt, CollectiveId, data}``, and for ``collective.transaction.created``
``data.transaction`` is the transaction's ``info`` (``id`` the integer legacy id, ``uuid``,
``group``, ``type``, ``kind``, ``amount`` in cents, ``currency``, ``createdAt``,
``isRefund``, …) with ``data.fromCollective`` (``{type, name, image}`` only for an
incognito contributor). A ``CREDIT``/``CONTRIBUTION`` is a donation whose ids come from
:func:`bot.sources.opencollective.transaction_ids` (the short id, ``legacy:ID`` and
``group:…``), the same as every export and the API, so each payment is stored once.
The payload names no refunded original (``info`` has no refund link) and
``contribution.refunded`` comes with empty ``data``: refunds are left to the export or
the sync, which name the original.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.ledger.models import DonorKind, NewDonation
from bot.ledger.pseudonym import donor_identity
from bot.sources.opencollective import SOURCE, reconcile, shown_name, transaction_ids
from bot.sources.webhooks.common import (
    Ignored,
    Malformed,
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
        return Ignored("refund: the payload does not name the original; import the export or sync")
    if as_text(transaction, "type", "data.transaction").upper() != "CREDIT":
        return Ignored("contribution debit is not money received")
    legacy_id, uuid, group = (
        as_text(transaction, key, "data.transaction", required=False) for key in ("id", "uuid", "group")
    )
    if not (legacy_id or uuid or group):
        raise Malformed("data.transaction: no id, uuid or group")
    external_id, aliases = transaction_ids(legacy_id=legacy_id, uuid=uuid, group=group)
    currency = as_currency(transaction.get("currency"), "data.transaction.currency")
    amount = cents_to_minor(transaction.get("amount"), currency, "data.transaction.amount")
    if amount == 0:
        return Ignored("contribution of zero")
    donor = maybe_object(data.get("fromCollective"))
    slug = as_text(donor, "slug", "fromCollective", required=False)
    name = shown_name(slug, as_text(donor, "name", "fromCollective", required=False))
    return [
        NewDonation(
            source=SOURCE,
            external_id=external_id,
            aliases=aliases,
            amount=amount,
            currency=currency,
            received_at=when,
            donor_id=donor_identity(SOURCE, slug or None),
            public=name is not None,
            display_name=name,
            kind=DonorKind.ORGANISATION
            if as_text(donor, "type", "fromCollective", required=False).upper() == "ORGANIZATION"
            else DonorKind.PERSON,
            reconcile=reconcile("webhook"),
        )
    ]
