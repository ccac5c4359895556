"""Property tests of every webhook: hostile and corrupted deliveries are answered, never crash the server.

Two levels. A genuine (correctly signed) delivery whose payload was mutated must
be read as a clean rejection (Malformed: 400), as not-a-donation (Ignored: 202),
or as items that the real SQLite ledger stores whole; never an exception, and
never a 500 that the platform would retry forever. Over HTTP, any body with any
signature gets 200, 202, 400, 401 or 413 (over the size limit), and every answer
but 200 leaves the ledger's rows exactly as they were.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_checks import snapshot
from sources_support import KEY
from webhook_support import (
    ALL_HOOKS,
    SECRETS,
    Harness,
    bmc_headers,
    donorbox_headers,
    github_headers,
    helloasso_headers,
    make_config,
    patreon_headers,
    start,
    stripe_headers,
)

from bot.config import Config
from bot.ledger.ids import KEYED_PREFIX, hash_keyed, is_keyed
from bot.ledger.models import NewDonation, RefundEvent
from bot.ledger.store import Ledger
from bot.sources.webhooks import enabled_hooks
from bot.sources.webhooks.app import Hook
from bot.sources.webhooks.common import Ignored, Malformed

NOW = 1_733_000_100  # the clock of every signed delivery below
MAX_BODY = 64 * 1024

# --- genuine payloads, one per platform ---------------------------------------------------------

SAMPLES: dict[str, Any] = {
    "kofi": {
        "verification_token": SECRETS["T_KOFI"],
        "message_id": "3a1fac0c-f960-4506-a60e-824979a74e74",
        "timestamp": "2025-12-14T10:00:00Z",
        "type": "Donation",
        "is_public": True,
        "from_name": "Jo Example",
        "message": "Good luck!",
        "amount": "3.00",
        "email": "jo.example@example.com",
        "currency": "USD",
        "is_subscription_payment": False,
        "kofi_transaction_id": "00000000-1111-2222-3333-444444444444",
    },
    "github-sponsors": {
        "action": "created",
        "sponsorship": {
            "node_id": "MDExOlNwb25zb3JzaGlwMQ==",
            "created_at": "2019-12-20T19:24:46+00:00",
            "privacy_level": "public",
            "sponsor": {"login": "octocat", "id": 1, "type": "User", "name": "The Octocat"},
            "tier": {"monthly_price_in_cents": 500, "is_one_time": False},
        },
    },
    "stripe": {
        "id": "evt_1",
        "type": "checkout.session.completed",
        "created": 1733000001,
        "data": {
            "object": {
                "id": "cs_test_a1",
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
        },
    },
    "opencollective": {
        "id": 9001,
        "type": "collective.transaction.created",
        "createdAt": "2023-06-06T05:47:18.000Z",
        "data": {
            "transaction": {
                "id": 5521,
                "uuid": "d3f98b95-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
                "type": "CREDIT",
                "kind": "CONTRIBUTION",
                "amount": 5000,
                "currency": "USD",
                "createdAt": "2023-06-06T05:47:17.000Z",
                "isRefund": False,
            },
            "fromCollective": {"id": 7, "slug": "martin-c", "name": "Martin C.", "type": "USER"},
        },
    },
    "patreon": {
        "data": {
            "type": "member",
            "id": "6b1a2c3d-member",
            "attributes": {
                "currently_entitled_amount_cents": 500,
                "email": "pat@example.com",
                "last_charge_date": "2024-05-01T10:00:00.000+00:00",
                "last_charge_status": "Paid",
            },
            "relationships": {"user": {"data": {"id": "12345", "type": "user"}}},
        }
    },
    "donorbox": [
        {
            "id": 4410,
            "donation_date": "2024-05-04T12:30:00.000Z",
            "amount": "100.0",
            "currency": "EUR",
            "recurring": False,
            "status": "paid",
            "anonymous_donation": False,
            "comment": "Merci !",
            "donor": {"id": 77, "name": "Dana Box", "email": "dana@example.com"},
        }
    ],
    "buymeacoffee": {
        "type": "donation.created",
        "created": 1733000000,
        "data": {
            "id": 58,
            "amount": 5,
            "currency": "USD",
            "status": "succeeded",
            "supporter_id": 2345,
            "supporter_name": "Cup Holder",
            "supporter_name_type": "default",
            "support_note": "Cheers",
            "note_hidden": "false",
            "created_at": 1733000000,
        },
    },
    "helloasso": {
        "eventType": "Order",
        "data": {
            "payer": {"email": "robert.petit@example.fr", "firstName": "Robert", "lastName": "Petit"},
            "items": [{"type": "Donation", "amount": 1500}, {"type": "Membership", "amount": 2000}],
            "id": 9307923,
            "date": "2020-11-14T11:13:08+00:00",
        },
    },
}
PLATFORMS = sorted(SAMPLES)


def path_of(platform: str) -> str:
    return (
        f"/webhooks/opencollective/{SECRETS['T_OC']}"
        if platform == "opencollective"
        else f"/webhooks/{platform}"
    )


def signed(platform: str, body: bytes) -> dict[str, str]:
    """The headers a genuine delivery of ``body`` carries (timestamps at NOW)."""
    return {
        "kofi": lambda: {"Content-Type": "application/x-www-form-urlencoded"},
        "github-sponsors": lambda: github_headers(body),
        "stripe": lambda: stripe_headers(body, at=NOW),
        "opencollective": lambda: {"Content-Type": "application/json"},
        "patreon": lambda: patreon_headers(body),
        "donorbox": lambda: donorbox_headers(body, at=NOW),
        "buymeacoffee": lambda: bmc_headers(body),
        "helloasso": lambda: helloasso_headers(body),
    }[platform]()


def body_of(platform: str, payload_json: str) -> bytes:
    if platform == "kofi":
        return urllib.parse.urlencode({"data": payload_json}).encode()
    return payload_json.encode("utf-8", "surrogatepass")


# --- hostile values ---------------------------------------------------------------------------


class Raw(str):
    """A JSON token written as is (numbers json.dumps cannot make)."""


HOSTILE_STRINGS = [
    "",
    " ",
    "\ud800",  # half a surrogate pair, as JSON can escape it
    "a\udfffb",
    "\x00",
    "0001-01-01T00:30:00+05:00",
    "9999-12-31T23:59:59-12:00",
    "2024-02-30T00:00:00Z",
    "99999999999",
    "1e999999999",
    "-5",
    "NaN",
    "Infinity",
    "9" * 60,
    "0.001",
    "@everyone <@&123> [x](javascript:alert(1)) <script>alert(1)</script>",
    "\u202eevil\u200b",
    "x" * 10_000,
    "refunded",
    "Refunded",
    "subscription",
    "public",
]
HOSTILE_NUMBERS = [
    Raw("1e999999999"),
    Raw("-1e999999999"),
    Raw("9" * 5000),
    Raw("Infinity"),
    Raw("NaN"),
    Raw("-0"),
    Raw("0.5"),
    Raw("1E+30"),
    0,
    -1,
    2**63,
    10**30,
    253_402_300_800,
    -62_135_596_800,
]
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HOSTILE_NUMBERS),
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def encode(value: Any) -> str:
    """JSON text of ``value``, with Raw tokens and lone surrogates kept as they are."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)  # escapes surrogates as \udXXX, which json.loads gives back


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """``value`` with some of its members replaced, removed or added."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            if key == "verification_token" or draw(st.integers(0, 14)) != 0:
                out[key] = draw(mutated(child, depth + 1))
        if draw(st.integers(0, 9)) == 0:
            out[draw(st.text(max_size=10))] = draw(json_values)
        return out
    if isinstance(value, list):
        items = [draw(mutated(child, depth + 1)) for child in value]
        if draw(st.integers(0, 9)) == 0:
            items.append(draw(json_values))
        return items
    return value


# --- parser level: genuine deliveries, mutated ------------------------------------------------


@dataclass
class Stores:
    """A private event loop and a real ledger per example (fresh file: every id is new)."""

    loop: asyncio.AbstractEventLoop
    hooks: dict[str, Hook]
    directory: Path
    count: int = 0

    def write(self, items: list[NewDonation | RefundEvent]) -> list[tuple[Any, ...]]:
        self.count += 1
        path = self.directory / f"ledger-{self.count}.sqlite3"

        async def go() -> list[tuple[Any, ...]]:
            ledger = await Ledger.open(path, ZoneInfo("Europe/Paris"), KEY.encode())
            try:
                await ledger.write(items)
                rows = await ledger.query(
                    "SELECT source, external_id, amount, currency, display_name, message FROM donations"
                )
                return [tuple(row) for row in rows]
            finally:
                await ledger.close()

        try:
            return self.loop.run_until_complete(go())
        finally:
            for leftover in self.directory.glob(f"ledger-{self.count}.sqlite3*"):
                leftover.unlink()


def all_hooks_config(directory: Path, extra: str = "") -> Config:
    return make_config(
        directory, ALL_HOOKS.replace("port = 0", f"port = 0\nmax_body_bytes = {MAX_BODY}{extra}")
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SECRETS.items():
            patch.setenv(name, value)
        directory = tmp_path_factory.mktemp("parsers")
        hooks = {hook.name: hook for hook in enabled_hooks(all_hooks_config(directory))}
        loop = asyncio.new_event_loop()
        try:
            yield Stores(loop, hooks, directory)
        finally:
            loop.close()


def test_every_platform_has_a_sample_and_a_route(stores: Stores) -> None:
    assert sorted(stores.hooks) == PLATFORMS
    for platform in PLATFORMS:  # the unmutated samples are genuine donations
        body = body_of(platform, encode(SAMPLES[platform]))
        hook = stores.hooks[platform]
        assert hook.check(body, signed(platform, body), NOW) is None
        outcome = hook.parse(body, signed(platform, body))
        assert isinstance(outcome, list) and outcome, platform
        assert len(stores.write(outcome)) == 1


@pytest.mark.parametrize("platform", PLATFORMS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_genuine_delivery_is_rejected_or_stored_whole(
    stores: Stores, platform: str, data: st.DataObject
) -> None:
    payload = data.draw(mutated(SAMPLES[platform]), label="payload")
    body = body_of(platform, encode(payload))
    headers = signed(platform, body)
    hook = stores.hooks[platform]
    try:
        problem = hook.check(body, headers, NOW)
        if problem is not None:
            assert platform == "kofi"  # the token lives in the payload; anything else is signed as sent
            return
        outcome = hook.parse(body, headers)
    except Malformed as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    if isinstance(outcome, Ignored):
        return
    rows = stores.write(outcome)  # must not raise: a 500 would be retried forever
    donations = [item for item in outcome if isinstance(item, NewDonation)]
    stored = {(row[0], row[1]): row for row in rows}
    for donation in donations:
        external_id = donation.external_id
        if is_keyed(external_id):  # stored as its keyed hash, never in the clear
            external_id = hash_keyed(KEY.encode(), donation.source, external_id.removeprefix(KEYED_PREFIX))
        row = stored[(donation.source, external_id)]
        assert row[2:4] == (donation.amount, donation.currency)
        assert 0 < donation.amount <= 10**14
    assert len(rows) == len({(d.source, d.external_id) for d in donations})
    assert not [row for row in rows if is_keyed(row[1])]


# --- HTTP level: any body, any signature ------------------------------------------------------


@dataclass
class Server:
    loop: asyncio.AbstractEventLoop
    harness: Harness

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        return self.loop.run_until_complete(self.harness.post(path, body, headers))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SECRETS.items():
            patch.setenv(name, value)
        directory = tmp_path_factory.mktemp("server")
        loop = asyncio.new_event_loop()
        running = start(directory, all_hooks_config(directory))
        harness = loop.run_until_complete(running.__anext__())
        try:
            yield Server(loop, harness)
        finally:
            loop.run_until_complete(running.aclose())
            loop.close()


def _wrong_signature(headers: dict[str, str]) -> dict[str, str]:
    """The same headers with every hex digest changed in one digit (equal length)."""
    out = {}
    for name, value in headers.items():
        if name.lower() in ("x-hub-signature-256", "stripe-signature", "x-patreon-signature",
                            "donorbox-signature", "x-signature-sha256", "x-ha-signature"):  # fmt: skip
            last = value[-1]
            value = value[:-1] + ("0" if last != "0" else "1")
        out[name] = value
    return out


SIGNINGS: dict[str, Callable[[str, bytes], dict[str, str]]] = {
    "genuine": signed,
    "wrong": lambda platform, body: _wrong_signature(signed(platform, body)),
    "none": lambda platform, body: {},
    "stale": lambda platform, body: signed(platform, body),  # signed at NOW, which the server's clock is not
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    platform=st.sampled_from(PLATFORMS),
    signing=st.sampled_from(sorted(SIGNINGS)),
    kind=st.sampled_from(["mutated", "bytes", "json"]),
    data=st.data(),
)
def test_any_delivery_is_answered_and_only_200_changes_the_ledger(
    server: Server, platform: str, signing: str, kind: str, data: st.DataObject
) -> None:
    if kind == "mutated":
        body = body_of(platform, encode(data.draw(mutated(SAMPLES[platform]))))
    elif kind == "bytes":
        body = data.draw(st.binary(max_size=300))
    else:
        body = body_of(platform, encode(data.draw(json_values)))
    headers = SIGNINGS[signing](platform, body)
    if signing == "genuine":
        # The server's clock is the real one: sign at it, so that timestamps are recent.
        headers = _resign_now(platform, body, headers)
    before = snapshot(server.harness.db_path)
    status, answer = server.post(path_of(platform), body, headers)
    assert status in (200, 202, 400, 401, 413), (status, answer)
    assert isinstance(answer, dict) and "status" in answer
    if status != 200:
        assert snapshot(server.harness.db_path) == before
    if len(body) > MAX_BODY:
        assert status == 413
        return
    if signing in ("wrong", "none") and platform not in ("kofi", "opencollective"):
        assert status == 401
    if signing == "stale" and platform in ("stripe", "donorbox"):
        assert status == 401  # NOW is long past: a replayed delivery


def _resign_now(platform: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    if platform == "stripe":
        return stripe_headers(body)
    if platform == "donorbox":
        return donorbox_headers(body)
    return headers


def test_a_body_over_the_limit_is_413_on_every_route(server: Server) -> None:
    before = snapshot(server.harness.db_path)
    big = b"x" * (MAX_BODY + 1)
    for platform in PLATFORMS:
        status, answer = server.post(path_of(platform), big, signed(platform, big))
        assert (status, answer["status"]) == (413, "too large"), platform
    assert snapshot(server.harness.db_path) == before


@pytest.mark.parametrize(
    "body",
    [
        b"data=" + b"%5B" * 200_00,  # Ko-fi's form: 20,000 nested JSON arrays
        b"data=%7B%22verification_token%22%3A%22%5Cud800%22%7D",  # half a surrogate as the token
        b"data=%7B%22a%22%3A" + b"9" * 5000 + b"%7D",  # an integer of 5,000 digits
        b"\xff\xfe",
        b"data=",
    ],
)
def test_kofi_rejects_unauthenticated_junk_without_crashing(server: Server, body: bytes) -> None:
    """Ko-fi's token is inside the body, so the body is read before anything is authenticated."""
    status, answer = server.post(
        "/webhooks/kofi", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status in (400, 401), answer


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("amount", Raw("1e999999999")),
        ("amount", Raw("9" * 5000)),
        ("amount", 10**30),
        ("date", "0001-01-01T00:30:00+05:00"),
        ("date", "9999-12-31T23:59:59-12:00"),
        ("date", Raw("1e999999999")),
        # The ledger's range (bot/dates.py): before 2 January 1970, or in the future.
        ("date", "1970-01-01T12:00:00+00:00"),
        ("date", "2080-01-01T00:00:00+00:00"),
        ("date", 3_471_292_800),  # 2080 in Unix seconds
        ("name", "\ud800"),
    ],
)
def test_out_of_range_values_are_400_not_500(server: Server, platform: str, where: str, value: Any) -> None:
    """Each value that used to reach the ledger and fail there (a 500, retried forever)."""
    payload = json.loads(json.dumps(SAMPLES[platform]))
    targets = _fields(platform)[where]
    node = payload
    for step in targets[:-1]:
        node = node[step]
    node[targets[-1]] = value
    body = body_of(platform, encode(payload))
    before = snapshot(server.harness.db_path)
    status, answer = server.post(path_of(platform), body, _resign_now(platform, body, signed(platform, body)))
    assert status in (400, 202), (status, answer)
    assert snapshot(server.harness.db_path) == before


def _fields(platform: str) -> dict[str, list[Any]]:
    return {
        "kofi": {"amount": ["amount"], "date": ["timestamp"], "name": ["from_name"]},
        "github-sponsors": {
            "amount": ["sponsorship", "tier", "monthly_price_in_cents"],
            "date": ["sponsorship", "created_at"],
            "name": ["sponsorship", "sponsor", "name"],
        },
        "stripe": {
            "amount": ["data", "object", "amount_total"],
            "date": ["data", "object", "created"],
            "name": ["data", "object", "customer_details", "name"],
        },
        "opencollective": {
            "amount": ["data", "transaction", "amount"],
            "date": ["data", "transaction", "createdAt"],
            "name": ["data", "fromCollective", "name"],
        },
        "patreon": {
            "amount": ["data", "attributes", "currently_entitled_amount_cents"],
            "date": ["data", "attributes", "last_charge_date"],
            "name": ["data", "id"],
        },
        "donorbox": {
            "amount": [0, "amount"],
            "date": [0, "donation_date"],
            "name": [0, "donor", "name"],
        },
        "buymeacoffee": {
            "amount": ["data", "amount"],
            "date": ["data", "created_at"],
            "name": ["data", "supporter_name"],
        },
        "helloasso": {
            "amount": ["data", "items", 0, "amount"],
            "date": ["data", "date"],
            "name": ["data", "payer", "email"],
        },
    }[platform]


def test_clock_is_not_consulted_for_unsigned_platforms() -> None:
    # A guard for the "stale" signing above: NOW must be far in the past.
    assert time.time() - NOW > 3600
