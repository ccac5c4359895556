"""The webhook app on a real 127.0.0.1 socket, a real SQLite ledger behind it, and signers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp.test_utils import TestServer
from sources_support import KEY

from bot.config import Config, parse_config
from bot.ledger.models import NewDonation, RefundEvent, WriteResult
from bot.ledger.store import Ledger
from bot.sources.webhooks import RedactingAccessLogger, build_webhook_app

SECRETS = {
    "T_KOFI": "kofi-verification-token-5f1c",
    "T_GITHUB": "It's a Secret to Everybody",
    "T_STRIPE": "whsec_test_0123456789abcdef",
    "T_OC": "oc-path-secret-9b8a7c",
    "T_PATREON": "patreon-webhook-secret-77",
    "T_DONORBOX": "donorbox-secret-31415",
    "T_BMC": "bmc-signing-secret-2718",
    "T_HA": "helloasso-signature-key-1618",
}

ALL_HOOKS = """
[webhooks]
port = 0

[webhooks.kofi]
secret_env = "T_KOFI"

[webhooks.github_sponsors]
secret_env = "T_GITHUB"

[webhooks.stripe]
secret_env = "T_STRIPE"

[webhooks.opencollective]
secret_env = "T_OC"

[webhooks.patreon]
secret_env = "T_PATREON"
currency = "EUR"

[webhooks.donorbox]
secret_env = "T_DONORBOX"

[webhooks.buymeacoffee]
secret_env = "T_BMC"

[webhooks.helloasso]
signature_key_env = "T_HA"
"""


def make_config(directory: Path, webhooks: str = ALL_HOOKS) -> Config:
    text = f'[project]\nname = "Test"\ntimezone = "UTC"\n\n{webhooks}'
    return parse_config(text, directory / "config.toml")


@dataclass
class Harness:
    """A running webhook server: post to it, look into what it stored."""

    url: str
    session: aiohttp.ClientSession
    ledger: Ledger
    db_path: Path
    calls: list[list[NewDonation | RefundEvent]] = field(default_factory=list)

    async def post(
        self, path: str, body: bytes | Any, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        async with self.session.post(self.url + path, data=body, headers=dict(headers or {})) as response:
            payload = await response.json(content_type=None)
            return response.status, payload

    async def stored(self, source: str) -> dict[str, tuple[Any, ...]]:
        rows = await self.ledger.query(
            "SELECT external_id, donor_key, display_name, message, amount, currency, received_at, recurring,"
            " kind, status FROM donations WHERE source = ?",
            (source,),
        )
        return {row[0]: tuple(row[1:]) for row in rows}

    async def count(self) -> int:
        rows = await self.ledger.query("SELECT count(*) FROM donations")
        return int(rows[0][0])


async def start(directory: Path, config: Config) -> AsyncIterator[Harness]:
    db_path = directory / "ledger.sqlite3"
    ledger = await Ledger.open(db_path, ZoneInfo("UTC"), KEY.encode())
    harness_calls: list[list[NewDonation | RefundEvent]] = []

    async def on_items(items: list[NewDonation | RefundEvent]) -> WriteResult:
        harness_calls.append(list(items))
        return await ledger.write(items)

    app = build_webhook_app(config, on_items)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log_class=RedactingAccessLogger)
    session = aiohttp.ClientSession()
    try:
        yield Harness(str(server.make_url("")).rstrip("/"), session, ledger, db_path, harness_calls)
    finally:
        await session.close()
        await server.close()
        await ledger.close()


# --- signers, written from the platforms' documentation --------------------------------------


def hex_hmac(key: str, message: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(key.encode(), message, getattr(hashlib, algorithm)).hexdigest()


def kofi_body(payload: dict[str, Any]) -> dict[str, str]:
    return {"data": json.dumps(payload)}


def github_headers(body: bytes, event: str = "sponsorship", delivery: str = "d-1") -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + hex_hmac(SECRETS["T_GITHUB"], body),
        "Content-Type": "application/json",
    }


def stripe_headers(body: bytes, at: int | None = None, secret: str | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    signature = hex_hmac(secret or SECRETS["T_STRIPE"], f"{stamp}.".encode() + body)
    return {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}


def patreon_headers(body: bytes, event: str = "members:pledge:create") -> dict[str, str]:
    return {"X-Patreon-Event": event, "X-Patreon-Signature": hex_hmac(SECRETS["T_PATREON"], body, "md5")}


def donorbox_headers(body: bytes, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {"Donorbox-Signature": f"{stamp}," + hex_hmac(SECRETS["T_DONORBOX"], f"{stamp}.".encode() + body)}


def bmc_headers(body: bytes) -> dict[str, str]:
    return {"x-signature-sha256": hex_hmac(SECRETS["T_BMC"], body)}


def helloasso_headers(body: bytes) -> dict[str, str]:
    return {"x-ha-signature": hex_hmac(SECRETS["T_HA"], body)}


def dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode()
