"""``donorbot sync stripe`` through the official ``stripe`` package, against a fake of Stripe's list endpoints."""

from __future__ import annotations

import copy
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_config
from bot.core import Core
from bot.sources.sync.runner import build_sources, sync_once
from bot.sources.webhooks import stripe as stripe_webhook
from tests.sources_support import KEY, KEY_ENV, cli, query, write_config
from tests.sync_fakes.server import ServerThread
from tests.sync_fakes.stripe import FIXTURES, FakeStripe
from tests.sync_support import month_figures

MONTHS = ("2025-09", "2025-10", "2025-11")
START = int(datetime(2025, 9, 1, tzinfo=UTC).timestamp())
END = int(datetime(2025, 12, 1, tzinfo=UTC).timestamp())


@pytest.fixture(autouse=True)
def pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("STRIPE_KEY", "sk_test_donorbot")


def fill(fake: FakeStripe, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for n in range(count):
        who = rng.random()
        email = f"donor{rng.randrange(count // 3)}@example.org" if who < 0.6 else None
        customer = f"cus_{rng.randrange(40):014d}" if 0.6 <= who < 0.9 else None
        public = rng.random() < 0.3
        fake.charge(
            n + 1, rng.randrange(START, END), rng.choice((500, 1000, 2500, 5000, 1234)),
            currency="eur" if rng.random() < 0.2 else "usd", email=email, customer=customer,
            name=f"Person {n}", metadata={"public": "true", "message": "Thanks!"} if public else {},
            payment_intent=rng.random() < 0.8, status="failed" if rng.random() < 0.05 else "succeeded",
            description="Subscription creation" if rng.random() < 0.2 else None,
        )  # fmt: skip
    paid = [c for c in fake.charges if c["status"] == "succeeded"]
    for i, charge in enumerate(paid[:4]):
        fake.refund(i + 1, charge, charge["created"] + 3600)
    fake.refund(9, paid[5], paid[5]["created"] + 60, amount=100)  # partial: the donation stands
    fake.dispute(1, paid[6], paid[6]["created"] + 7200)


def expected(fake: FakeStripe) -> dict[str, dict[str, Any]]:
    months: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"donations": 0, "donors": set(), "totals": defaultdict(int)}
    )
    for c in fake.charges:
        if c["status"] != "succeeded" or c["refunded"] or c["disputed"]:
            continue
        month = months[datetime.fromtimestamp(c["created"], UTC).strftime("%Y-%m")]
        month["donations"] += 1
        month["donors"].add(c["billing_details"]["email"] or c["customer"] or c["id"])  # no one: one each
        month["totals"][c["currency"].upper()] += c["amount"]
    return {
        key: {
            "donations": v["donations"],
            "donors": len(v["donors"]),
            "totals": {code: str(Decimal(cents).scaleb(-2)) for code, cents in sorted(v["totals"].items())},
        }
        for key, v in months.items()
    }


@pytest.fixture
def stripe_api() -> Iterator[tuple[FakeStripe, ServerThread]]:
    fake = FakeStripe()
    fill(fake, 230)
    with ServerThread(fake.app) as server:
        yield fake, server


def stripe_config(directory: Path, url: str) -> Path:
    return write_config(
        directory, f'[sources.stripe]\nsecret_key_env = "STRIPE_KEY"\napi_base = "{url}"\n', timezone="UTC"
    )


def test_a_stripe_sync_pages_through_every_list_and_stores_the_months_an_independent_computation_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stripe_api: tuple[FakeStripe, ServerThread]
) -> None:
    fake, server = stripe_api
    config = stripe_config(tmp_path, server.url)
    code, out, err = cli(capsys, config, "sync", "stripe")
    assert code == 0, out + err
    succeeded = sum(1 for c in fake.charges if c["status"] == "succeeded")
    assert f"  new: {succeeded}\n" in out
    charges = [params for name, params in fake.requests if name == "charges"]
    assert [p.get("starting_after") is not None for p in charges] == [
        False,
        True,
        True,
    ]  # 230 in pages of 100
    assert all(p["limit"] == "100" and "created[gte]" not in p for p in charges)  # the first sync reads all
    refunds = [params for name, params in fake.requests if name == "refunds"]
    assert refunds and all(p.get("expand[0]") == "data.charge" for p in refunds)
    want = expected(fake)
    for month in MONTHS:
        assert month_figures(capsys, config, month) == want[month], month
    pi = next(c for c in fake.charges if c["payment_intent"] and c["status"] == "succeeded")
    bare = next(c for c in fake.charges if not c["payment_intent"] and c["status"] == "succeeded")
    ids = {row[0] for row in query(config, "SELECT external_id FROM donations")}
    assert pi["payment_intent"] in ids and bare["id"] in ids and pi["id"] not in ids  # the webhook's ids
    assert query(config, "SELECT status FROM donations WHERE external_id = ?",
                 (fake.disputes[0]["payment_intent"] or fake.disputes[0]["charge"],)) == [("disputed",)]  # fmt: skip
    named = query(config, "SELECT count(*) FROM donations WHERE display_name IS NOT NULL")[0][0]
    public = sum(
        1 for c in fake.charges if c["metadata"].get("public") == "true" and c["status"] == "succeeded"
    )
    assert named == public
    code, out, _ = cli(capsys, config, "sync", "stripe")
    assert code == 0 and "  new: 0\n" in out


def test_charges_refunds_and_disputes_made_after_a_sync_arrive_at_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stripe_api: tuple[FakeStripe, ServerThread]
) -> None:
    fake, server = stripe_api
    config = stripe_config(tmp_path, server.url)
    assert cli(capsys, config, "sync")[0] == 0
    newest = max(c["created"] for c in fake.charges)
    cursor = max(o["created"] for o in fake.charges + fake.refunds + fake.disputes)
    late = fake.charge(9001, newest - 600, 4200, email="late@example.org")  # within the overlap
    fresh = fake.charge(9002, newest + 86400, 1500, email="fresh@example.org")
    october = [c for c in fake.charges if c["status"] == "succeeded" and not c["refunded"] and not c["disputed"]
               and datetime.fromtimestamp(c["created"], UTC).month == 10]  # fmt: skip
    fake.refund(50, october[0], newest + 90000)
    fake.refund(51, october[1], newest + 90000, amount=1)  # partial
    fake.dispute(50, october[2], newest + 90001)
    code, out, err = cli(capsys, config, "sync")
    assert code == 0, out + err
    assert "  new: 2\n" in out and "  refunds applied: 2\n" in out
    second = [p for _, p in fake.requests[-3:]]
    assert [int(p["created[gte]"]) for p in second] == [cursor - 3600] * 3  # an hour before the cursor
    ids = {row[0] for row in query(config, "SELECT external_id FROM donations")}
    assert {late["payment_intent"], fresh["payment_intent"]} <= ids
    want = expected(fake)
    for month in MONTHS:
        assert month_figures(capsys, config, month) == want[month], month


def test_a_refused_stripe_key_names_its_variable_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    stripe_api: tuple[FakeStripe, ServerThread],
) -> None:  # fmt: skip
    _, server = stripe_api
    config = stripe_config(tmp_path, server.url)
    monkeypatch.setenv("STRIPE_KEY", "sk_test_revoked_key_123456")
    code, out, err = cli(capsys, config, "sync", "stripe")
    assert code == 1
    assert "sources.stripe.secret_key_env: the key in STRIPE_KEY was refused by Stripe" in out
    assert "sk_test_revoked_key_123456" not in out + err
    assert query(config, "SELECT count(*) FROM donations") == [(0,)]
    assert query(config, "SELECT failures, cursor FROM sync_sources WHERE source = 'stripe'") == [(1, None)]


def test_check_config_refuses_a_publishable_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = stripe_config(tmp_path, "http://127.0.0.1:9")
    monkeypatch.setenv("STRIPE_KEY", "pk_live_abcdef")
    code, _, err = cli(capsys, config, "check-config")
    assert code == 2
    line = config.read_text().splitlines().index('secret_key_env = "STRIPE_KEY"') + 1
    assert (
        f"{config.resolve()}:{line}: sources.stripe.secret_key_env: STRIPE_KEY holds a publishable key" in err
    )
    assert "pk_live_abcdef" not in err
    monkeypatch.delenv("STRIPE_KEY")
    code, _, err = cli(capsys, config, "check-config")
    assert code == 2 and "sources.stripe.secret_key_env: environment variable STRIPE_KEY is not set" in err


@pytest.mark.parametrize("order", ["webhook then sync", "sync then webhook"])
async def test_the_webhook_and_the_sync_store_each_payment_once(
    tmp_path: Path, stripe_api: tuple[FakeStripe, ServerThread], order: str
) -> None:
    fake, server = stripe_api
    paid = [c for c in fake.charges if c["status"] == "succeeded" and c["payment_intent"]
            and not c["refunded"] and not c["disputed"] and c["description"] is None]  # fmt: skip
    one_off, subscription = paid[10], paid[11]
    invoice_id = "in_1Pgc6tB7WZ01zgkWu9fdqL6I"
    fake.invoice_payment(1, subscription, invoice_id)
    session = {
        "id": "evt_session", "type": "checkout.session.completed", "created": one_off["created"],
        "data": {"object": {
            "id": "cs_test_1", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
            "amount_total": one_off["amount"], "currency": one_off["currency"],
            "payment_intent": one_off["payment_intent"], "customer": one_off["customer"],
            "customer_details": {"email": one_off["billing_details"]["email"], "name": "Someone"},
            "created": one_off["created"], "metadata": {},
        }},
    }  # fmt: skip
    # invoice.paid as current API versions send it (Stripe's own fixture): no payment_intent, no payments.
    invoice = {**copy.deepcopy(FIXTURES["invoice"]), "id": invoice_id, "status": "paid",
               "amount_paid": subscription["amount"], "currency": subscription["currency"],
               "customer": subscription["customer"], "customer_email": subscription["billing_details"]["email"],
               "status_transitions": {"paid_at": subscription["created"]}}  # fmt: skip
    assert "payment_intent" not in invoice and invoice.get("payments") is None
    events = [session, {"id": "evt_invoice", "type": "invoice.paid", "created": subscription["created"],
                        "data": {"object": invoice}}]  # fmt: skip
    items = [item for event in events for item in stripe_webhook.parse(json.dumps(event).encode(), {})]  # type: ignore[union-attr]
    assert {i.external_id for i in items} == {one_off["payment_intent"], invoice_id}
    config = load_config(stripe_config(tmp_path, server.url))
    core = await Core.open(config)
    try:
        [source], _ = build_sources(config)
        if order == "webhook then sync":
            assert (await core.ledger.write(items)).inserted == 2
            report = await sync_once(core.ledger, source)
            assert report.error is None and report.duplicates == 2
        else:
            report = await sync_once(core.ledger, source)
            assert report.error is None
            assert (await core.ledger.write(items)).inserted == 0
        rows = await core.ledger.query("SELECT count(*) FROM donations")
        recurring = await core.ledger.query(
            "SELECT recurring FROM donations WHERE external_id IN (?, ?)",
            (subscription["payment_intent"], invoice_id),
        )
    finally:
        await core.close()
    assert rows[0][0] == sum(1 for c in fake.charges if c["status"] == "succeeded")
    assert recurring == [(1,)]
