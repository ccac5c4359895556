"""Stripe: events signed with ``Stripe-Signature``.

Donations: ``checkout.session.completed`` (and ``…async_payment_succeeded``) for
one-off payments once ``payment_status`` is ``paid``, and ``invoice.paid`` for
every recurring charge (a subscription's checkout session is ignored: its first
invoice is the payment). A donation's id is its PaymentIntent (``pi_…``) when
there is one, because that is what ``charge.refunded`` and
``charge.dispute.created`` name; otherwise the session or invoice id. Partial
refunds do not change a donation.

Invoices on current API versions (2025-03-31 "basil" and later, as the ``stripe``
package and Stripe's OpenAPI fixtures have them) no longer carry ``payment_intent``
or ``charge``, and a charge no longer names its ``invoice``: the link is an
``InvoicePayment`` (``invoice``, ``payment.payment_intent``), listed in
``invoice.payments`` when the event includes it and sent on its own as
``invoice_payment.paid``. So ``invoice.paid`` is stored under the PaymentIntent when
it can find one (older ``payment_intent``, or ``payments``), else under its invoice id;
``invoice_payment.paid`` is the same payment under the invoice id with the
PaymentIntent as an alias, so ``charge.refunded`` (which names the PaymentIntent)
finds it whichever came first. An InvoicePayment names no customer: when it arrives
before its ``invoice.paid``, the donation is stored without a donor (the invoice,
arriving second, is a duplicate). Stripe has no notion of a public donor: a
donation is public only when the site that created the session put
``metadata.public = "true"`` (and then ``metadata.display_name``, else the
customer's name, and ``metadata.message`` are kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.ledger.models import NewDonation, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.sources.webhooks.common import (
    MAX_MINOR,
    Ignored,
    Malformed,
    Outcome,
    as_bool,
    as_currency,
    as_object,
    as_text,
    as_time,
    load_json,
)

__all__ = ["SOURCE", "parse"]

SOURCE = "stripe"
_SESSION_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


def _minor(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Malformed(f"{where}.{key}: expected a whole number of minor units")
    if value > MAX_MINOR:
        raise Malformed(f"{where}.{key}: amount too large")
    return value


def _id_of(value: Any) -> str:
    """An expandable field: either the id itself or the expanded object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return ""


def parse(body: bytes, headers: Mapping[str, str]) -> Outcome:
    event = as_object(load_json(body), "body")
    kind = as_text(event, "type", "body")
    data = as_object(event.get("data"), "data")
    obj = as_object(data.get("object"), "data.object")
    if kind in _SESSION_EVENTS:
        return _session(obj, event)
    if kind == "invoice.paid":
        return _invoice(obj, event)
    if kind == "invoice_payment.paid":
        return _invoice_payment(obj, event)
    if kind == "charge.refunded":
        if not as_bool(obj.get("refunded"), "data.object.refunded"):
            return Ignored("partial refund")
        original = _id_of(obj.get("payment_intent")) or as_text(obj, "id", "data.object")
        return [RefundEvent(SOURCE, original, Status.REFUNDED, as_time(event.get("created"), "created"))]
    if kind == "charge.dispute.created":
        original = _id_of(obj.get("payment_intent")) or _id_of(obj.get("charge"))
        if not original:
            return Ignored("dispute without a charge")
        return [RefundEvent(SOURCE, original, Status.DISPUTED, as_time(event.get("created"), "created"))]
    return Ignored(f"Stripe {kind} is not a donation")


def _public(obj: Mapping[str, Any], fallback_name: str) -> tuple[bool, str | None, str | None]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not as_bool(metadata.get("public"), "metadata.public"):
        return False, None, None
    name = as_text(metadata, "display_name", "metadata", required=False) or fallback_name
    message = as_text(metadata, "message", "metadata", required=False) or None
    return bool(name), name or None, message


def _session(obj: Mapping[str, Any], event: Mapping[str, Any]) -> Outcome:
    if as_text(obj, "mode", "data.object", required=False) == "subscription":
        return Ignored("subscription checkout: its invoice.paid is the payment")
    if as_text(obj, "payment_status", "data.object", required=False) != "paid":
        return Ignored("checkout session not paid yet")
    currency = as_currency(obj.get("currency"), "data.object.currency")
    amount = _minor(obj, "amount_total", "data.object")
    if amount == 0:
        return Ignored("checkout of zero")
    raw_details = obj.get("customer_details")
    details: Mapping[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    email = as_text(details, "email", "customer_details", required=False)
    public, name, message = _public(obj, as_text(details, "name", "customer_details", required=False))
    return [
        NewDonation(
            source=SOURCE,
            external_id=_id_of(obj.get("payment_intent")) or as_text(obj, "id", "data.object"),
            amount=amount,
            currency=currency,
            received_at=as_time(obj.get("created") or event.get("created"), "data.object.created"),
            donor_id=donor_identity(SOURCE, _id_of(obj.get("customer")) or None, email or None),
            public=public,
            display_name=name,
            message=message,
        )
    ]


def _invoice_payments(obj: Mapping[str, Any]) -> list[str]:
    """The PaymentIntents of an invoice's paid InvoicePayments, when the event lists them."""
    payments = obj.get("payments")
    rows = payments.get("data") if isinstance(payments, dict) else None
    found: list[str] = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or row.get("status") not in (None, "paid"):
            continue
        payment = row.get("payment")
        intent = _id_of(payment.get("payment_intent")) if isinstance(payment, dict) else ""
        if intent and intent not in found:
            found.append(intent)
    return found


def _invoice_payment(obj: Mapping[str, Any], event: Mapping[str, Any]) -> Outcome:
    """An InvoicePayment: the link between an invoice and the PaymentIntent that paid it."""
    if as_text(obj, "status", "data.object", required=False) != "paid":
        return Ignored("invoice payment not paid")
    invoice = _id_of(obj.get("invoice"))
    payment = obj.get("payment")
    intent = _id_of(payment.get("payment_intent")) if isinstance(payment, dict) else ""
    if not invoice:
        raise Malformed("data.object.invoice: missing")
    currency = as_currency(obj.get("currency"), "data.object.currency")
    amount = _minor(obj, "amount_paid", "data.object")
    if amount == 0:
        return Ignored("invoice payment of zero")
    transitions = obj.get("status_transitions")
    paid_at = transitions.get("paid_at") if isinstance(transitions, dict) else None
    return [
        NewDonation(
            source=SOURCE,
            external_id=invoice,
            aliases=(intent,) if intent else (),
            amount=amount,
            currency=currency,
            received_at=as_time(paid_at or obj.get("created") or event.get("created"), "data.object.created"),
            recurring=True,
        )
    ]


def _invoice(obj: Mapping[str, Any], event: Mapping[str, Any]) -> Outcome:
    currency = as_currency(obj.get("currency"), "data.object.currency")
    amount = _minor(obj, "amount_paid", "data.object")
    if amount == 0:
        return Ignored("invoice of zero (trial or credit)")
    email = as_text(obj, "customer_email", "data.object", required=False)
    public, name, message = _public(obj, as_text(obj, "customer_name", "data.object", required=False))
    transitions = obj.get("status_transitions")
    paid_at = transitions.get("paid_at") if isinstance(transitions, dict) else None
    invoice_id = as_text(obj, "id", "data.object")
    # Older API versions name the PaymentIntent on the invoice; current ones list InvoicePayments.
    intents = [i for i in (_id_of(obj.get("payment_intent")), *_invoice_payments(obj)) if i]
    external_id = intents[0] if intents else invoice_id
    aliases = tuple(dict.fromkeys(i for i in (invoice_id, *intents) if i != external_id))
    return [
        NewDonation(
            source=SOURCE,
            external_id=external_id,
            aliases=aliases,
            amount=amount,
            currency=currency,
            received_at=as_time(paid_at or obj.get("created") or event.get("created"), "data.object.created"),
            donor_id=donor_identity(SOURCE, _id_of(obj.get("customer")) or None, email or None),
            public=public,
            display_name=name,
            message=message,
            recurring=True,
        )
    ]
