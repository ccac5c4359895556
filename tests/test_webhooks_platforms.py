"""Open Collective, Patreon, Donorbox, Buy Me a Coffee and HelloAsso webhooks, over HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sources_support import FIXTURES, KEY
from webhook_support import (
    SECRETS,
    Harness,
    bmc_headers,
    donorbox_headers,
    dumps,
    helloasso_headers,
    make_config,
    patreon_headers,
    start,
)

from bot.ledger.ids import hash_keyed
from bot.sources.opencollective import OpenCollectiveImporter
from bot.sources.pipeline import import_file


@pytest.fixture
async def hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    async for harness in start(tmp_path, make_config(tmp_path)):
        yield harness


# --- Open Collective ---------------------------------------------------------------------------

OC = f"/webhooks/opencollective/{SECRETS['T_OC']}"


def oc_transaction(**transaction: Any) -> dict[str, Any]:
    base = {"id": 5521, "uuid": "d3f98b95-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "type": "CREDIT", "kind": "CONTRIBUTION",
            "amount": 5000, "currency": "USD", "createdAt": "2023-06-06T05:47:17.000Z", "isRefund": False}  # fmt: skip
    base.update(transaction)
    return {
        "id": 9001,
        "type": "collective.transaction.created",
        "createdAt": "2023-06-06T05:47:18.000Z",
        "CollectiveId": 42,
        "data": {
            "transaction": base,
            "fromCollective": {"id": 7, "slug": "martin-c", "name": "Martin C.", "type": "USER"},
        },
    }


async def test_opencollective_secret_path_and_short_id(hooks: Harness) -> None:
    assert (await hooks.post("/webhooks/opencollective/not-the-secret", dumps(oc_transaction())))[0] == 401
    assert hooks.calls == []
    status, answer = await hooks.post(OC, dumps(oc_transaction()))
    assert (status, answer["status"]) == (200, "stored")
    stored = await hooks.stored("opencollective")
    assert stored["d3f98b95"][1:5] == ("Martin C.", None, 5000, "USD")
    assert (await hooks.post(OC, dumps(oc_transaction())))[1]["status"] == "duplicate"


async def test_opencollective_webhook_and_export_store_a_contribution_once(hooks: Harness) -> None:
    assert (await hooks.post(OC, dumps(oc_transaction())))[0] == 200
    summary = await import_file(
        hooks.ledger,
        OpenCollectiveImporter(),
        FIXTURES / "opencollective" / "transactions.csv",
        ZoneInfo("UTC"),
    )
    assert summary.duplicates == 1 and summary.imported == 4


async def test_opencollective_incognito_expenses_and_refunds(hooks: Harness) -> None:
    incognito = oc_transaction(uuid="87654321-0000-4000-8000-000000000000")
    incognito["data"]["fromCollective"] = {"type": "USER", "name": "Incognito", "image": None}
    assert (await hooks.post(OC, dumps(incognito)))[0] == 200
    row = (await hooks.stored("opencollective"))["87654321"]
    assert row[0] is None and row[1] is None  # anonymous: no pseudonym, no name

    assert (await hooks.post(OC, dumps(oc_transaction(kind="EXPENSE", type="DEBIT"))))[0] == 202
    assert (await hooks.post(OC, dumps({"type": "contribution.refunded", "data": {}})))[0] == 202
    # The transaction's ``info`` that Open Collective sends carries no link to the refunded
    # original: a refund is acknowledged and left to the export or the sync.
    refund = oc_transaction(uuid="ffff0000-0000-4000-8000-000000000000", type="DEBIT", isRefund=True)
    assert (await hooks.post(OC, dumps(refund)))[0] == 202
    assert (await hooks.stored("opencollective"))["87654321"][-1] == "succeeded"
    assert (await hooks.post(OC, b"[1, 2"))[0] == 400


# --- Patreon -----------------------------------------------------------------------------------


def member(status: str = "Paid", charged: str = "2024-05-01T10:00:00.000+00:00") -> dict[str, Any]:
    return {
        "data": {
            "type": "member",
            "id": "6b1a2c3d-member",
            "attributes": {
                "currently_entitled_amount_cents": 500,
                "full_name": "Pat Ron",
                "email": "pat@example.com",
                "last_charge_date": charged,
                "last_charge_status": status,
                "patron_status": "active_patron",
                "pledge_cadence": 1,
            },
            "relationships": {"user": {"data": {"id": "12345", "type": "user"}}},
        },
        "included": [],
    }


async def test_patreon_charge_is_stored_once_across_triggers(hooks: Harness) -> None:
    body = dumps(member())
    status, answer = await hooks.post("/webhooks/patreon", body, patreon_headers(body))
    assert (status, answer["status"]) == (200, "stored")
    status, answer = await hooks.post("/webhooks/patreon", body, patreon_headers(body, "members:update"))
    assert (status, answer["status"]) == (200, "duplicate")
    stored = await hooks.stored("patreon")
    # The id embeds the member's Patreon id: stored only as its keyed hash.
    key = hash_keyed(KEY.encode(), "patreon", "6b1a2c3d-member:2024-05-01T10:00:00.000+00:00")
    assert not [external_id for external_id in stored if "6b1a2c3d" in external_id]
    assert stored[key][1:5] == (None, None, 500, "EUR")  # never named; the configured currency
    next_month = dumps(member(charged="2024-06-01T10:00:00.000+00:00"))
    assert (await hooks.post("/webhooks/patreon", next_month, patreon_headers(next_month, "members:update")))[
        0
    ] == 200
    assert len(await hooks.stored("patreon")) == 2


async def test_patreon_refund_signature_and_ignored_triggers(hooks: Harness) -> None:
    body = dumps(member())
    await hooks.post("/webhooks/patreon", body, patreon_headers(body))
    refunded = dumps(member(status="Refunded"))
    assert (await hooks.post("/webhooks/patreon", refunded, patreon_headers(refunded, "members:update")))[
        0
    ] == 200
    assert next(iter((await hooks.stored("patreon")).values()))[-1] == "refunded"
    declined = dumps(member(status="Declined", charged="2024-07-01T10:00:00.000+00:00"))
    assert (await hooks.post("/webhooks/patreon", declined, patreon_headers(declined, "members:update")))[
        0
    ] == 202
    assert (await hooks.post("/webhooks/patreon", body, patreon_headers(body, "members:pledge:delete")))[
        0
    ] == 202
    bad = patreon_headers(body)
    bad["X-Patreon-Signature"] = "d41d8cd98f00b204e9800998ecf8427e"
    assert (await hooks.post("/webhooks/patreon", body, bad))[0] == 401
    assert (await hooks.post("/webhooks/patreon", body, {"X-Patreon-Event": "members:create"}))[0] == 401


# --- Donorbox ----------------------------------------------------------------------------------


def donorbox(**overrides: Any) -> list[dict[str, Any]]:
    donation = {"id": 4410, "donation_date": "2024-05-04T12:30:00.000Z", "amount": "100.0", "currency": "EUR",
                "recurring": False, "first_recurring_donation": False, "amount_refunded": "0.0",
                "status": "paid", "anonymous_donation": False, "comment": "Merci !",
                "donor": {"id": 77, "name": "Dana Box", "email": "dana@example.com"}}  # fmt: skip
    donation.update(overrides)
    return [donation]


async def test_donorbox_signed_and_recent(hooks: Harness) -> None:
    body = dumps(donorbox())
    status, _ = await hooks.post("/webhooks/donorbox", body, donorbox_headers(body))
    assert status == 200
    assert (await hooks.stored("donorbox"))["4410"][1:5] == ("Dana Box", "Merci !", 10000, "EUR")
    assert (await hooks.post("/webhooks/donorbox", body, donorbox_headers(body)))[1]["status"] == "duplicate"
    stale = donorbox_headers(body, at=int(time.time()) - 301)
    assert (await hooks.post("/webhooks/donorbox", body, stale))[0] == 401
    forged = {"Donorbox-Signature": f"{int(time.time())},{'ab' * 32}"}
    assert (await hooks.post("/webhooks/donorbox", body, forged))[0] == 401


async def test_donorbox_anonymous_and_refunded(hooks: Harness) -> None:
    body = dumps(donorbox(id=4411, anonymous_donation=True))
    assert (await hooks.post("/webhooks/donorbox", body, donorbox_headers(body)))[0] == 200
    assert (await hooks.stored("donorbox"))["4411"][1:3] == (None, None)
    body = dumps(donorbox(id=4411, status="refunded"))
    assert (await hooks.post("/webhooks/donorbox", body, donorbox_headers(body)))[1]["refunds_applied"] == 1
    body = dumps(donorbox(id=4412, status="pending"))
    assert (await hooks.post("/webhooks/donorbox", body, donorbox_headers(body)))[0] == 202
    body = dumps({"not": "a list"})
    assert (await hooks.post("/webhooks/donorbox", body, donorbox_headers(body)))[0] == 400


# --- Buy Me a Coffee ----------------------------------------------------------------------------


def coffee(kind: str = "donation.created", **data: Any) -> dict[str, Any]:
    base = {"id": 58, "amount": 5, "currency": "USD", "status": "succeeded", "supporter_id": 2345,
            "supporter_name": "Bea", "supporter_name_type": "default", "support_note": "Thanks!",
            "note_hidden": "false", "created_at": 1715000000, "transaction_id": "pi_coffee",
            "supporter_email": "bea@example.com"}  # fmt: skip
    base.update(data)
    return {
        "type": kind,
        "live_mode": "false",
        "attempt": 1,
        "created": 1715000001,
        "event_id": 1,
        "data": base,
    }


async def test_buymeacoffee_donation_refund_and_strings_as_booleans(hooks: Harness) -> None:
    body = dumps(coffee())
    assert (await hooks.post("/webhooks/buymeacoffee", body, bmc_headers(body)))[0] == 200
    assert (await hooks.stored("buymeacoffee"))["58"][1:5] == ("Bea", "Thanks!", 500, "USD")
    hidden = dumps(coffee(id=59, note_hidden="true", supporter_name_type="anonymous"))
    assert (await hooks.post("/webhooks/buymeacoffee", hidden, bmc_headers(hidden)))[0] == 200
    assert (await hooks.stored("buymeacoffee"))["59"][1:3] == (None, None)
    refund = dumps(coffee("donation.refunded"))
    assert (await hooks.post("/webhooks/buymeacoffee", refund, bmc_headers(refund)))[1][
        "refunds_applied"
    ] == 1
    assert (await hooks.post("/webhooks/buymeacoffee", body, {"x-signature-sha256": "00" * 32}))[0] == 401
    other = dumps(coffee("membership.started"))
    assert (await hooks.post("/webhooks/buymeacoffee", other, bmc_headers(other)))[0] == 202


# --- HelloAsso -----------------------------------------------------------------------------------


def order(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eventType": "Order", "data": {
        "payer": {"email": "robert.petit@example.fr", "firstName": "Robert", "lastName": "Petit"},
        "items": items, "id": 9307923, "amount": {"total": sum(i["amount"] for i in items)},
        "date": "2020-11-14T11:13:08+00:00", "formType": "Donation", "organizationSlug": "asso"}}  # fmt: skip


async def test_helloasso_counts_only_donation_items(hooks: Harness) -> None:
    body = dumps(order([{"type": "Donation", "amount": 1500}, {"type": "Membership", "amount": 2000}]))
    assert (await hooks.post("/webhooks/helloasso", body, helloasso_headers(body)))[0] == 200
    row = (await hooks.stored("helloasso"))["9307923"]
    assert row[1:5] == (None, None, 1500, "EUR")
    membership = dumps(order([{"type": "Membership", "amount": 2000}]))
    assert (await hooks.post("/webhooks/helloasso", membership, helloasso_headers(membership)))[0] == 202
    refund = dumps({"eventType": "Payment", "data": {"id": 1, "state": "Refunded", "date": "2020-11-20T10:00:00+00:00",
                                                     "order": {"id": 9307923, "formType": "Donation"}}})  # fmt: skip
    assert (await hooks.post("/webhooks/helloasso", refund, helloasso_headers(refund)))[1][
        "refunds_applied"
    ] == 1
    assert (await hooks.post("/webhooks/helloasso", body, {"x-ha-signature": "0" * 64}))[0] == 401
    assert (await hooks.post("/webhooks/helloasso", body))[0] == 401


async def test_helloasso_with_a_secret_path_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_HA_PATH", "ha-path-secret")
    config = make_config(tmp_path, '[webhooks.helloasso]\npath_secret_env = "T_HA_PATH"\n')
    async for harness in start(tmp_path, config):
        body = dumps(order([{"type": "MonthlyDonation", "amount": 1000}]))
        assert (await harness.post("/webhooks/helloasso/wrong", body))[0] == 401
        assert (await harness.post("/webhooks/helloasso/ha-path-secret", body))[0] == 200
        assert (await harness.stored("helloasso"))["9307923"][6] == 1  # recurring
