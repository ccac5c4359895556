"""The webhook server over real HTTP on 127.0.0.1, into a real SQLite ledger.

Signatures, size limit, malformed bodies, events that are not donations,
redeliveries, and what must never be stored or logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from webhook_support import (
    ALL_HOOKS,
    SECRETS,
    Harness,
    dumps,
    github_headers,
    kofi_body,
    make_config,
    start,
    stripe_headers,
)

from bot.sources.webhooks.signatures import hmac_hex, verify_github, verify_stripe


@pytest.fixture
async def hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    async for harness in start(tmp_path, make_config(tmp_path)):
        yield harness


def kofi(**overrides: Any) -> dict[str, Any]:
    payload = {
        "verification_token": SECRETS["T_KOFI"],
        "message_id": "3a1fac0c-f960-4506-a60e-824979a74e74",
        "timestamp": "2025-12-14T10:00:00Z",
        "type": "Donation",
        "is_public": True,
        "from_name": "Jo Example",
        "message": "Good luck with the integration!",
        "amount": "3.00",
        "url": "https://ko-fi.com/Home/CoffeeShop?txid=00000000-1111-2222-3333-444444444444",
        "email": "jo.example@example.com",
        "currency": "USD",
        "is_subscription_payment": False,
        "is_first_subscription_payment": False,
        "kofi_transaction_id": "00000000-1111-2222-3333-444444444444",
        "shop_items": None,
        "tier_name": None,
        "shipping": None,
    }
    payload.update(overrides)
    return payload


def sponsorship(action: str = "created", privacy: str = "public") -> dict[str, Any]:
    return {
        "action": action,
        "sponsorship": {
            "node_id": "MDExOlNwb25zb3JzaGlwMQ==",
            "created_at": "2019-12-20T19:24:46+00:00",
            "privacy_level": privacy,
            "sponsor": {"login": "octocat", "id": 1, "type": "User", "name": "The Octocat"},
            "sponsorable": {"login": "maintainer", "id": 2},
            "tier": {
                "node_id": "MDEyOlNwb25zb3JzVGllcjE=",
                "monthly_price_in_cents": 500,
                "monthly_price_in_dollars": 5,
                "name": "$5 a month",
                "is_one_time": False,
            },
        },
        "sender": {"login": "octocat", "id": 1},
    }


def checkout(**overrides: Any) -> dict[str, Any]:
    session = {
        "id": "cs_test_a1",
        "object": "checkout.session",
        "amount_total": 2000,
        "currency": "eur",
        "customer": "cus_123",
        "customer_details": {"email": "donor@example.com", "name": "Dee Donor"},
        "mode": "payment",
        "payment_status": "paid",
        "payment_intent": "pi_3abc",
        "created": 1733000000,
        "metadata": {"public": "true", "message": "For the servers"},
    }
    session.update(overrides)
    return {"id": "evt_1", "object": "event", "type": "checkout.session.completed", "created": 1733000001,
            "data": {"object": session}}  # fmt: skip


# --- signatures --------------------------------------------------------------------------------


def test_github_published_test_vector() -> None:
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert hmac_hex(secret, body) == expected
    assert verify_github(secret, body, f"sha256={expected}") is None
    assert verify_github(secret, body, f"sha256={expected.upper()}") is None
    assert verify_github(secret, b"Hello, World?", f"sha256={expected}") == "signature does not match"
    assert verify_github(secret, body, None) is not None
    assert verify_github(secret, body, f"sha1={expected}") is not None


def test_stripe_scheme_any_v1_and_tolerance() -> None:
    secret, body, now = "whsec_x", b'{"id":"evt"}', 1_700_000_000
    good = hmac_hex(secret, f"{now}.".encode() + body)
    assert verify_stripe(secret, body, f"t={now},v1={'0' * 64},v1={good}", now, 300) is None
    assert verify_stripe(secret, body, f"t={now},v1={good}", now + 300, 300) is None
    assert "tolerance" in (verify_stripe(secret, body, f"t={now},v1={good}", now + 301, 300) or "")
    assert verify_stripe(secret, body, f"t={now},v0={good}", now, 300) is not None
    assert verify_stripe(secret, body, f"t={now + 1},v1={good}", now, 300) == "signature does not match"


# --- Ko-fi -----------------------------------------------------------------------------------


async def test_kofi_donation_is_stored_with_only_normalised_fields(
    hooks: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="donorbot")
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    status, answer = await hooks.post("/webhooks/kofi", kofi_body(kofi()))
    assert (status, answer["status"], answer["inserted"]) == (200, "stored", 1)
    stored = await hooks.stored("kofi")
    donor_key, name, message, amount, currency, received_at, *_ = stored[
        "00000000-1111-2222-3333-444444444444"
    ]
    assert (name, message, amount, currency) == ("Jo Example", "Good luck with the integration!", 300, "USD")
    assert received_at == 1765706400  # 2025-12-14T10:00:00Z
    assert donor_key is not None and "@" not in donor_key
    raw = hooks.db_path.read_bytes()
    assert b"jo.example@example.com" not in raw and SECRETS["T_KOFI"].encode() not in raw
    assert SECRETS["T_KOFI"] not in caplog.text and "jo.example@example.com" not in caplog.text


async def test_kofi_redelivery_is_stored_once(hooks: Harness) -> None:
    body = kofi_body(kofi())
    assert (await hooks.post("/webhooks/kofi", body))[0] == 200
    status, answer = await hooks.post("/webhooks/kofi", body)
    assert (status, answer["status"], answer["duplicates"]) == (200, "duplicate", 1)
    assert await hooks.count() == 1


async def test_kofi_private_donor_is_counted_not_named(hooks: Harness) -> None:
    status, _ = await hooks.post("/webhooks/kofi", kofi_body(kofi(is_public=False)))
    assert status == 200
    (row,) = (await hooks.stored("kofi")).values()
    assert row[1] is None and row[2] is None and row[3] == 300


async def test_kofi_wrong_or_missing_token_is_401_and_stores_nothing(hooks: Harness) -> None:
    assert (await hooks.post("/webhooks/kofi", kofi_body(kofi(verification_token="guess"))))[0] == 401
    payload = kofi()
    del payload["verification_token"]
    assert (await hooks.post("/webhooks/kofi", kofi_body(payload)))[0] == 401
    assert hooks.calls == [] and await hooks.count() == 0


async def test_kofi_shop_order_is_202_ignored(hooks: Harness) -> None:
    status, answer = await hooks.post("/webhooks/kofi", kofi_body(kofi(type="Shop Order")))
    assert (status, answer["status"]) == (202, "ignored")
    assert hooks.calls == []


async def test_kofi_malformed_bodies_are_400(hooks: Harness) -> None:
    assert (await hooks.post("/webhooks/kofi", {"data": "{not json"}))[0] == 400
    assert (await hooks.post("/webhooks/kofi", {"other": "x"}))[0] == 400
    status, answer = await hooks.post("/webhooks/kofi", kofi_body(kofi(amount="three")))
    assert status == 400 and answer["problem"] == "data.amount: not a positive amount in USD"
    assert hooks.calls == []


# --- GitHub Sponsors ---------------------------------------------------------------------------


async def test_github_sponsorship_created_then_redelivered(hooks: Harness) -> None:
    body = dumps(sponsorship())
    status, answer = await hooks.post("/webhooks/github-sponsors", body, github_headers(body, delivery="a"))
    assert (status, answer["status"]) == (200, "stored")
    # A redelivery has a new X-GitHub-Delivery but the same sponsorship: stored once.
    status, answer = await hooks.post("/webhooks/github-sponsors", body, github_headers(body, delivery="b"))
    assert (status, answer["status"]) == (200, "duplicate")
    stored = await hooks.stored("github-sponsors")
    assert list(stored) == ["MDExOlNwb25zb3JzaGlwMQ=="]
    assert stored["MDExOlNwb25zb3JzaGlwMQ=="][1:5] == ("The Octocat", None, 500, "USD")


async def test_github_private_sponsor_and_other_actions(hooks: Harness) -> None:
    body = dumps(sponsorship(privacy="private"))
    assert (await hooks.post("/webhooks/github-sponsors", body, github_headers(body)))[0] == 200
    assert (await hooks.stored("github-sponsors"))["MDExOlNwb25zb3JzaGlwMQ=="][1] is None
    for action in ("cancelled", "tier_changed", "pending_cancellation"):
        body = dumps(sponsorship(action=action))
        assert (await hooks.post("/webhooks/github-sponsors", body, github_headers(body)))[0] == 202
    ping = dumps({"zen": "Keep it logically awesome.", "hook_id": 1})
    assert (await hooks.post("/webhooks/github-sponsors", ping, github_headers(ping, event="ping")))[0] == 202
    assert len(hooks.calls) == 1


async def test_github_bad_or_missing_signature_is_401(hooks: Harness) -> None:
    body = dumps(sponsorship())
    headers = github_headers(body)
    headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    assert (await hooks.post("/webhooks/github-sponsors", body, headers))[0] == 401
    del headers["X-Hub-Signature-256"]
    assert (await hooks.post("/webhooks/github-sponsors", body, headers))[0] == 401
    # Signed for another body.
    assert (await hooks.post("/webhooks/github-sponsors", body + b" ", github_headers(body)))[0] == 401
    assert hooks.calls == []


# --- Stripe ----------------------------------------------------------------------------------


async def test_stripe_checkout_then_refund(hooks: Harness) -> None:
    body = dumps(checkout())
    status, answer = await hooks.post("/webhooks/stripe", body, stripe_headers(body))
    assert (status, answer["status"]) == (200, "stored")
    stored = await hooks.stored("stripe")
    assert stored["pi_3abc"][1:5] == ("Dee Donor", "For the servers", 2000, "EUR")
    refund = dumps({"id": "evt_2", "type": "charge.refunded", "created": 1733001000,
                    "data": {"object": {"id": "ch_1", "payment_intent": "pi_3abc", "refunded": True}}})  # fmt: skip
    status, answer = await hooks.post("/webhooks/stripe", refund, stripe_headers(refund))
    assert (status, answer["refunds_applied"]) == (200, 1)
    assert (await hooks.stored("stripe"))["pi_3abc"][-1] == "refunded"


async def test_stripe_replay_inside_the_window_is_stored_once(hooks: Harness) -> None:
    body = dumps(checkout())
    headers = stripe_headers(body)
    assert (await hooks.post("/webhooks/stripe", body, headers))[0] == 200
    status, answer = await hooks.post("/webhooks/stripe", body, headers)
    assert (status, answer["status"]) == (200, "duplicate")
    assert await hooks.count() == 1


async def test_stripe_stale_or_future_timestamp_is_401(hooks: Harness) -> None:
    body = dumps(checkout())
    now = int(time.time())
    assert (await hooks.post("/webhooks/stripe", body, stripe_headers(body, at=now - 301)))[0] == 401
    assert (await hooks.post("/webhooks/stripe", body, stripe_headers(body, at=now + 3600)))[0] == 401
    assert (await hooks.post("/webhooks/stripe", body, stripe_headers(body, secret="whsec_other")))[0] == 401
    assert (await hooks.post("/webhooks/stripe", body, {"Stripe-Signature": "garbage"}))[0] == 401
    assert hooks.calls == [] and await hooks.count() == 0


async def test_stripe_non_donations_are_202(hooks: Harness) -> None:
    for payload in (
        checkout(mode="subscription"),
        checkout(payment_status="unpaid"),
        {"id": "evt_3", "type": "customer.created", "data": {"object": {"id": "cus_1"}}},
        {
            "id": "evt_4",
            "type": "charge.refunded",
            "created": 1,
            "data": {"object": {"id": "ch", "refunded": False}},
        },
    ):
        body = dumps(payload)
        assert (await hooks.post("/webhooks/stripe", body, stripe_headers(body)))[0] == 202
    assert hooks.calls == []


async def test_stripe_recurring_invoices_and_disputes(hooks: Harness) -> None:
    invoice = dumps({"id": "evt_5", "type": "invoice.paid", "created": 1733000000, "data": {"object": {
        "id": "in_1", "amount_paid": 500, "currency": "usd", "customer": "cus_9",
        "customer_email": "sub@example.com", "payment_intent": "pi_sub1",
        "status_transitions": {"paid_at": 1733000005}}}})  # fmt: skip
    assert (await hooks.post("/webhooks/stripe", invoice, stripe_headers(invoice)))[0] == 200
    dispute = dumps({"id": "evt_6", "type": "charge.dispute.created", "created": 1733100000,
                     "data": {"object": {"id": "dp_1", "charge": "ch_9", "payment_intent": "pi_sub1"}}})  # fmt: skip
    assert (await hooks.post("/webhooks/stripe", dispute, stripe_headers(dispute)))[0] == 200
    row = (await hooks.stored("stripe"))["pi_sub1"]
    assert row[1] is None and row[3] == 500 and row[5] == 1733000005 and row[6] == 1 and row[-1] == "disputed"


async def test_stripe_malformed_is_400(hooks: Harness) -> None:
    body = b'{"type": "checkout.session.completed", "data": "nope"}'
    assert (await hooks.post("/webhooks/stripe", body, stripe_headers(body)))[0] == 400
    body = b"\xff\xfe not json"
    assert (await hooks.post("/webhooks/stripe", body, stripe_headers(body)))[0] == 400


# --- size, health, routes, logs ----------------------------------------------------------------


async def test_oversize_body_is_413_and_stores_nothing(hooks: Harness) -> None:
    limit = 1024 * 1024
    body = b'{"pad": "' + b"x" * limit + b'"}'
    status, answer = await hooks.post("/webhooks/stripe", body, stripe_headers(body))
    assert (status, answer["status"]) == (413, "too large")

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the limit must hold while reading.
        for _ in range(20):
            yield b"y" * (64 * 1024)

    status, _ = await hooks.post("/webhooks/kofi", chunks())
    assert status == 413
    # Exactly at the limit is still read (and here refused for its signature, not its size).
    at_limit = b"z" * limit
    assert (await hooks.post("/webhooks/github-sponsors", at_limit, {"X-Hub-Signature-256": "sha256=00"}))[
        0
    ] == 401
    assert hooks.calls == []


async def test_healthz_lists_live_routes(hooks: Harness) -> None:
    async with hooks.session.get(hooks.url + "/healthz") as response:
        assert response.status == 200
        answer = await response.json()
    assert answer == {
        "status": "ok",
        "webhooks": ["kofi", "github-sponsors", "stripe", "opencollective", "patreon", "donorbox",
                     "buymeacoffee", "helloasso"],
    }  # fmt: skip


async def test_a_route_is_enabled_only_when_its_secret_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "donorbot.webhooks")  # run and serve say it at start; the app at DEBUG
    monkeypatch.setenv("T_KOFI", SECRETS["T_KOFI"])
    monkeypatch.delenv("T_STRIPE", raising=False)
    config = make_config(
        tmp_path, '[webhooks.kofi]\nsecret_env = "T_KOFI"\n[webhooks.stripe]\nsecret_env = "T_STRIPE"\n'
    )
    async for harness in start(tmp_path, config):
        async with harness.session.get(harness.url + "/healthz") as response:
            assert (await response.json())["webhooks"] == ["kofi"]
        body = dumps(checkout())
        async with harness.session.post(
            harness.url + "/webhooks/stripe", data=body, headers=stripe_headers(body)
        ) as r:
            assert r.status == 404
        assert (await harness.post("/webhooks/kofi", kofi_body(kofi())))[0] == 200
    assert "T_STRIPE is not set" in caplog.text


async def test_secrets_and_payloads_never_reach_the_log(
    hooks: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # Every logger the webhook path writes to (aiosqlite's DEBUG trace of SQL is the ledger's business).
    caplog.set_level(logging.DEBUG, logger="donorbot")
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    body = dumps(checkout())
    await hooks.post("/webhooks/stripe", body, stripe_headers(body))
    await hooks.post("/webhooks/stripe", body, stripe_headers(body, secret="whsec_wrong"))
    await hooks.post("/webhooks/kofi", kofi_body(kofi(verification_token="nope")))
    await hooks.post("/webhooks/kofi", kofi_body(kofi(amount="x")))
    await hooks.post("/webhooks/opencollective/wrong-segment", b"{}")
    await hooks.post(f"/webhooks/opencollective/{SECRETS['T_OC']}", b'{"type": "collective.updated"}')
    text = caplog.text
    assert "POST /webhooks/opencollective/{token} 202" in text
    assert "rejected" in text  # the log does say what happened
    for secret in SECRETS.values():
        assert secret not in text
    for personal in (
        "donor@example.com",
        "Dee Donor",
        "jo.example@example.com",
        "For the servers",
        "whsec_wrong",
    ):
        assert personal not in text


def test_all_hooks_config_is_the_documented_shape(tmp_path: Path) -> None:
    config = make_config(tmp_path, ALL_HOOKS)
    assert config.webhooks.max_body_bytes == 1024 * 1024
    assert config.webhooks.stripe is not None and config.webhooks.stripe.tolerance_seconds == 300
    assert config.webhooks.patreon is not None and config.webhooks.patreon.currency == "EUR"
