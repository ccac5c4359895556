"""Buy Me a Coffee: JSON events signed with ``x-signature-sha256`` (hex HMAC-SHA256 of the body).

``donation.created`` is a one-off donation with id ``data.id``; ``donation.refunded``
refunds it. ``recurring_donation.started`` is a monthly supporter's first payment.
A real one carries ``psp_id`` (the processor's *subscription*, the same every month)
and ``status: "active"`` but no ``transaction_id``: its id is then
``{data.id}:{current_period_start}`` (one per billing period), or
``{data.id}:{transaction_id}`` when a transaction id is given. Its date is the
period's start. ``.updated``, ``.paused`` and ``.cancelled`` change a subscription
and carry no payment. Buy Me a Coffee sends no event for the later monthly charges,
so only the first month of a monthly supporter is seen through the webhook.
Several booleans arrive as strings (``"false"``).
A supporter is named unless ``supporter_name_type`` says anonymous; the note only
when ``note_hidden`` is false.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.ledger.models import NewDonation, RefundEvent
from bot.ledger.pseudonym import donor_identity
from bot.sources.webhooks.common import (
    Ignored,
    Outcome,
    as_amount,
    as_bool,
    as_currency,
    as_object,
    as_text,
    as_time,
    load_json,
)

__all__ = ["SOURCE", "parse"]

SOURCE = "buymeacoffee"
_PAID = ("", "succeeded", "success", "paid", "completed", "active")


def parse(body: bytes, headers: Mapping[str, str]) -> Outcome:
    event = as_object(load_json(body), "body")
    kind = as_text(event, "type", "body")
    data = as_object(event.get("data"), "data")
    support_id = as_text(data, "id", "data")
    if kind == "donation.refunded":
        return [
            RefundEvent(
                SOURCE,
                support_id,
                received_at=as_time(data.get("created_at") or event.get("created"), "data.created_at"),
            )
        ]
    recurring = kind.startswith("recurring_donation.")
    if kind != "donation.created" and not recurring:
        return Ignored(f"Buy Me a Coffee {kind} is not a donation")
    status = as_text(data, "status", "data", required=False).lower()
    if status not in _PAID:
        return Ignored(f"support {status}")
    external_id = support_id
    when = data.get("created_at") or event.get("created")
    if recurring:
        if kind.endswith((".cancelled", ".canceled", ".updated", ".paused")):
            return Ignored(f"{kind} carries no payment")
        transaction = as_text(data, "transaction_id", "data", required=False)
        period = data.get("current_period_start") or data.get("started_at")
        if transaction:
            external_id = f"{support_id}:{transaction}"
        elif isinstance(period, int | str) and not isinstance(period, bool) and str(period).strip():
            # psp_id names the subscription, shared by every month: the period makes it one payment.
            external_id = f"{support_id}:{str(period).strip()}"
        else:
            return Ignored(f"{kind} carries no payment")
        when = data.get("created_at") or period or event.get("created")
    currency = as_currency(data.get("currency"), "data.currency")
    amount = as_amount(data.get("amount"), currency, "data.amount")
    if amount == 0:
        return Ignored("support of zero")
    name_type = as_text(data, "supporter_name_type", "data", required=False).lower()
    name = as_text(data, "supporter_name", "data", required=False)
    public = bool(name) and name_type not in ("anonymous", "hidden", "private")
    note_hidden = as_bool(data.get("note_hidden"), "data.note_hidden", default=True)
    note = as_text(data, "support_note", "data", required=False)
    return [
        NewDonation(
            source=SOURCE,
            external_id=external_id,
            amount=amount,
            currency=currency,
            received_at=as_time(when, "data.created_at"),
            donor_id=donor_identity(
                SOURCE,
                as_text(data, "supporter_id", "data", required=False) or None,
                as_text(data, "supporter_email", "data", required=False) or None,
            ),
            public=public,
            display_name=name if public else None,
            message=note if public and note and not note_hidden else None,
            recurring=recurring,
        )
    ]
