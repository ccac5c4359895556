"""Webhooks as the platforms send them today: Buy Me a Coffee's monthly support, Stripe's current invoices.

Stripe's objects are checked against the official ``stripe`` package (its types are
generated from Stripe's OpenAPI spec for the API version it pins) and built with it, so
a field the current API no longer has cannot slip into these events.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from webhook_support import Harness, bmc_headers, dumps, make_config, start, stripe_headers

PAID_AT = 1764000005  # 24 November 2025


@pytest.fixture
async def hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    from webhook_support import SECRETS

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    async for harness in start(tmp_path, make_config(tmp_path)):
        yield harness


# --- Buy Me a Coffee ---------------------------------------------------------------------------

# A real `recurring_donation.started` delivery, as quoted in a public project's notes on Buy Me
# a Coffee's webhooks (see tests/fixtures/README.md); name, email and note replaced.
MONTHLY_STARTED: dict[str, Any] = {
    "data": {
        "id": 1020646,
        "amount": 1,
        "object": "recurring_donation",
        "paused": "false",
        "psp_id": "sub_1Tds1nJRHVLVJ5LATvgEnLII",
        "status": "active",
        "canceled": "false",
        "currency": "EUR",
        "started_at": 1780405607,
        "canceled_at": None,
        "note_hidden": False,
        "support_note": "A note from the supporter",
        "supporter_id": 10816073,
        "duration_type": "month",
        "supporter_name": "Supporter E",
        "supporter_email": "supporter.e@example.com",
        "current_period_end": 1782997603,
        "supporter_feedback": None,
        "supporter_name_type": "default",
        "cancel_at_period_end": "false",
        "current_period_start": 1780405603,
    },
    "type": "recurring_donation.started",
    "attempt": 1,
    "created": 1780405643,
    "event_id": 580918,
    "live_mode": True,
}


async def test_buymeacoffee_monthly_support_started_is_counted(hooks: Harness) -> None:
    """Issue: it carries psp_id and status "active" but no transaction_id, and was answered 202."""
    body = dumps(MONTHLY_STARTED)
    status, answer = await hooks.post("/webhooks/buymeacoffee", body, bmc_headers(body))
    assert (status, answer["status"]) == (200, "stored")
    stored = await hooks.stored("buymeacoffee")
    # One payment per billing period: the subscription id (psp_id) is the same every month.
    assert list(stored) == ["1020646:1780405603"]
    donor, name, message, amount, currency, received_at, recurring = stored["1020646:1780405603"][:7]
    assert (name, message, amount, currency, received_at, recurring) == (
        "Supporter E",
        "A note from the supporter",
        100,
        "EUR",
        1780405603,
        1,
    )
    assert donor is not None
    # Buy Me a Coffee retries the same delivery: stored once.
    assert (await hooks.post("/webhooks/buymeacoffee", body, bmc_headers(body)))[1]["status"] == "duplicate"


@pytest.mark.parametrize("kind", ["recurring_donation.updated", "recurring_donation.cancelled"])
async def test_buymeacoffee_subscription_changes_carry_no_payment(hooks: Harness, kind: str) -> None:
    body = dumps({**MONTHLY_STARTED, "type": kind})
    assert (await hooks.post("/webhooks/buymeacoffee", body, bmc_headers(body)))[0] == 202
    assert await hooks.count() == 0


async def test_buymeacoffee_a_hidden_name_stays_hidden(hooks: Harness) -> None:
    data = {**MONTHLY_STARTED["data"], "supporter_name_type": "anonymous", "note_hidden": "true"}
    body = dumps({**MONTHLY_STARTED, "data": data})
    assert (await hooks.post("/webhooks/buymeacoffee", body, bmc_headers(body)))[0] == 200
    assert (await hooks.stored("buymeacoffee"))["1020646:1780405603"][1:3] == (None, None)


# --- Stripe, current API version ----------------------------------------------------------------


def test_the_sdk_says_what_current_invoices_and_charges_carry() -> None:
    """The premise of the events below, from the official package's generated types."""
    assert "payment_intent" not in stripe.Invoice.__annotations__
    assert "charge" not in stripe.Invoice.__annotations__
    assert "payments" in stripe.Invoice.__annotations__
    assert "invoice" not in stripe.Charge.__annotations__
    assert "payment_intent" in stripe.Charge.__annotations__
    assert {"invoice", "payment", "amount_paid", "status"} <= set(stripe.InvoicePayment.__annotations__)
    assert "payment_intent" in stripe.InvoicePayment.Payment.__annotations__


def event(kind: str, obj: stripe.StripeObject, n: int) -> bytes:
    built = stripe.Event.construct_from(
        {"id": f"evt_{n}", "object": "event", "type": kind, "created": PAID_AT + n,
         "api_version": stripe.api_version, "data": {"object": obj.to_dict()}},
        "sk_test_donorbot",
    )  # fmt: skip
    return dumps(built.to_dict())


def invoice(*, with_payments: bool = False) -> stripe.Invoice:
    fields: dict[str, Any] = {
        "id": "in_1QcurrentAPI",
        "object": "invoice",
        "amount_paid": 1500,
        "currency": "eur",
        "customer": "cus_QXg1o8vcGmoR32",
        "customer_email": "monthly@example.org",
        "status": "paid",
        "billing_reason": "subscription_cycle",
        "parent": {"type": "subscription_details",
                   "subscription_details": {"subscription": "sub_1Q", "metadata": {}}},
        "status_transitions": {"paid_at": PAID_AT, "finalized_at": PAID_AT - 60},
    }  # fmt: skip
    if with_payments:
        fields["payments"] = {"object": "list", "has_more": False, "url": "/v1/invoice_payments",
                              "data": [invoice_payment().to_dict()]}  # fmt: skip
    return stripe.Invoice.construct_from(fields, "sk_test_donorbot")


def invoice_payment() -> stripe.InvoicePayment:
    return stripe.InvoicePayment.construct_from(
        {"id": "inpay_1Q", "object": "invoice_payment", "invoice": "in_1QcurrentAPI", "amount_paid": 1500,
         "amount_requested": 1500, "currency": "eur", "is_default": True, "livemode": False,
         "payment": {"type": "payment_intent", "payment_intent": "pi_3QcurrentAPI"}, "status": "paid",
         "status_transitions": {"paid_at": PAID_AT, "canceled_at": None}, "created": PAID_AT},
        "sk_test_donorbot",
    )  # fmt: skip


def refunded_charge() -> stripe.Charge:
    return stripe.Charge.construct_from(
        {"id": "ch_3QcurrentAPI", "object": "charge", "amount": 1500, "amount_refunded": 1500,
         "currency": "eur", "customer": "cus_QXg1o8vcGmoR32", "payment_intent": "pi_3QcurrentAPI",
         "refunded": True, "status": "succeeded", "paid": True, "created": PAID_AT},
        "sk_test_donorbot",
    )  # fmt: skip


EVENTS = {
    "invoice.paid": lambda: event("invoice.paid", invoice(), 1),
    "invoice_payment.paid": lambda: event("invoice_payment.paid", invoice_payment(), 2),
    "charge.refunded": lambda: event("charge.refunded", refunded_charge(), 3),
}


@pytest.mark.parametrize("order", list(itertools.permutations(EVENTS)), ids="->".join)
async def test_a_current_invoice_is_refunded_whatever_the_order(
    hooks: Harness, order: tuple[str, ...]
) -> None:
    """Issue: invoice.paid carries no PaymentIntent; its charge.refunded never matched."""
    for kind in order:
        body = EVENTS[kind]()
        status, answer = await hooks.post("/webhooks/stripe", body, stripe_headers(body))
        assert status == 200, answer
    stored = await hooks.stored("stripe")
    assert len(stored) == 1, stored  # one payment, one donation
    ((row),) = stored.values()
    assert row[3:5] == (1500, "EUR") and row[-1] == "refunded"
    rows = await hooks.ledger.query("SELECT count(*) FROM pending_refunds")
    assert rows == [(0,)]


async def test_an_invoice_listing_its_payments_is_stored_under_the_payment_intent(hooks: Harness) -> None:
    body = event("invoice.paid", invoice(with_payments=True), 1)
    assert (await hooks.post("/webhooks/stripe", body, stripe_headers(body)))[0] == 200
    stored = await hooks.stored("stripe")
    assert list(stored) == ["pi_3QcurrentAPI"]
    assert stored["pi_3QcurrentAPI"][0] is not None  # the customer's pseudonym
    body = event("charge.refunded", refunded_charge(), 3)
    assert (await hooks.post("/webhooks/stripe", body, stripe_headers(body)))[1]["refunds_applied"] == 1


async def test_a_refund_that_never_finds_its_donation_is_kept_and_changes_nothing(hooks: Harness) -> None:
    body = event("charge.refunded", refunded_charge(), 3)
    status, answer = await hooks.post("/webhooks/stripe", body, stripe_headers(body))
    assert status == 200 and answer["refunds_pending"] == 1
    assert await hooks.count() == 0
    assert await hooks.ledger.query("SELECT source, external_id FROM pending_refunds") == [
        ("stripe", "pi_3QcurrentAPI")
    ]
