"""HelloAsso: notification JSON, signed with ``x-ha-signature`` when a key is configured.

An ``Order`` whose items include ``Donation`` or ``MonthlyDonation`` is a donation of
the sum of those items (memberships and tickets in the same order do not count),
with the order ``id`` as its id. A ``Payment`` in state ``Refunded`` (or
``Contested``) refunds its order. Amounts are cents. HelloAsso does not say
whether a payer is public: payers are never named. Later instalments of a monthly
donation arrive as ``Payment`` events and are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.ledger.models import NewDonation, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.sources.webhooks.common import (
    Ignored,
    Outcome,
    as_object,
    as_text,
    as_time,
    cents_to_minor,
    load_json,
    maybe_object,
)

__all__ = ["SOURCE", "parse"]

SOURCE = "helloasso"
CURRENCY = "EUR"
_DONATION_ITEMS = ("donation", "monthlydonation")
_REFUNDS = {"refunded": Status.REFUNDED, "contested": Status.DISPUTED}


def parse(body: bytes, headers: Mapping[str, str]) -> Outcome:
    event = as_object(load_json(body), "body")
    kind = as_text(event, "eventType", "body")
    data = as_object(event.get("data"), "data")
    if kind == "Payment":
        state = as_text(data, "state", "data", required=False).lower()
        if state not in _REFUNDS:
            return Ignored(f"payment {state or 'without state'}")
        order = as_object(data.get("order"), "data.order")
        when = as_time(data.get("date"), "data.date")
        return [RefundEvent(SOURCE, as_text(order, "id", "data.order"), _REFUNDS[state], when)]
    if kind != "Order":
        return Ignored(f"HelloAsso {kind} is not an order")
    items = data.get("items")
    if not isinstance(items, list):
        return Ignored("order without items")
    amount = 0
    recurring = False
    for index, raw in enumerate(items):
        item = as_object(raw, f"data.items[{index}]")
        item_type = as_text(item, "type", f"data.items[{index}]", required=False).lower()
        if item_type in _DONATION_ITEMS:
            amount += cents_to_minor(item.get("amount"), CURRENCY, f"data.items[{index}].amount")
            recurring |= item_type == "monthlydonation"
    if amount == 0:
        return Ignored("order holds no donation")
    payer = maybe_object(data.get("payer"))
    return [
        NewDonation(
            source=SOURCE,
            external_id=as_text(data, "id", "data"),
            amount=amount,
            currency=CURRENCY,
            received_at=as_time(data.get("date"), "data.date"),
            donor_id=donor_identity(
                SOURCE, None, as_text(payer, "email", "data.payer", required=False) or None
            ),
            recurring=recurring,
        )
    ]
