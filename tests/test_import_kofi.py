"""Ko-fi: `donorbot import kofi`, and the same payment by webhook and export stored once, either order."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import signal
import sys
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sources_support import FIXTURES, KEY, KEY_ENV, cli, donations, ledger_path, query, write_config
from webhook_support import SECRETS

EXPORT = FIXTURES / "kofi" / "transactions.csv"
ROOT = Path(__file__).resolve().parent.parent
HOOKS = '[webhooks]\nhost = "127.0.0.1"\nport = 0\n\n[webhooks.kofi]\nsecret_env = "T_KOFI"\n'


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, KEY)
    return write_config(tmp_path, HOOKS, timezone="UTC")


def month_figures(path: Path) -> dict[str, tuple[int, Decimal, set[str]]]:
    """Per month: donations, total in USD and the donors' emails, computed from the file here."""
    out: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0), set()])
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["TransactionType"] not in ("Donation", "Subscription"):
                continue
            month = row["DateTime (UTC)"][:7]
            out[month][0] += 1
            out[month][1] += Decimal(row["Received"].replace(",", ""))
            out[month][2].add(row["BuyerEmail"].lower() or row["TransactionId"])
    return {m: (v[0], v[1], v[2]) for m, v in out.items()}


def stats(capsys: pytest.CaptureFixture[str], config: Path, month: str) -> dict[str, Any]:
    code, out, err = cli(capsys, config, "stats", "--month", month, "--json")
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_the_export_imports_with_month_figures_from_the_rows(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, config, "import", "kofi", str(EXPORT))
    assert code == 0, err
    assert "imported: 5" in out
    assert "skipped, Shop Order is a sale, not a donation: 1" in out
    assert "skipped, Commission is a sale, not a donation: 1" in out
    for month, (count, total, donors) in month_figures(EXPORT).items():
        figures = stats(capsys, config, month)
        assert figures["donations"] == count, month
        assert figures["totals"] == {"USD": f"{total:.2f}"}, month
        assert figures["donors"] == len(donors), month
    stored = donations(config, "kofi")
    # The export's TransactionId is the webhook's kofi_transaction_id.
    assert "3b1a4f60-0a6e-4bd8-9d8b-1f3c2a000001" in stored
    assert stored["3b1a4f60-0a6e-4bd8-9d8b-1f3c2a000003"][6] == 1  # a subscription is recurring
    assert stored["3b1a4f60-0a6e-4bd8-9d8b-1f3c2a000002"][0] is None  # no email: anonymous
    # The export never says a supporter chose to be public: nobody named, no message kept.
    assert all(row[1] is None and row[2] is None for row in stored.values())
    # DateTime (UTC) is read as UTC.
    assert stored["3b1a4f60-0a6e-4bd8-9d8b-1f3c2a000001"][5] == int(
        datetime(2025, 11, 30, 23, 40, tzinfo=UTC).timestamp()
    )
    raw = ledger_path(config).read_bytes()
    for personal in (b"supporter.a@example.com", b"Supporter A", b"HYPERLINK", b"supporterb"):
        assert personal not in raw


def test_an_export_that_is_not_kofi_names_what_is_missing(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "other.csv"
    path.write_text("DateTime (UTC),From,Received,Currency\n2025-12-01 10:00,a,1.00,USD\n", "utf-8")
    code, _, err = cli(capsys, config, "import", "kofi", str(path))
    assert code == 1
    assert f"{path}: not a Ko-fi transactions export: missing columns TransactionType, TransactionId" in err


KOFI_WEBHOOK = {
    "verification_token": SECRETS["T_KOFI"],
    "message_id": "9e0c5d1e-7f6a-4c1b-8a53-000000000001",
    "timestamp": "2025-12-03T14:05:00Z",
    "type": "Subscription",
    "is_public": True,
    "from_name": "Supporter B",
    "message": "Happy to help",
    "amount": "10.00",
    "url": "https://ko-fi.com/Home/CoffeeShop?txid=3b1a4f60-0a6e-4bd8-9d8b-1f3c2a000003",
    "email": "supporter.b@example.com",
    "currency": "USD",
    "is_subscription_payment": True,
    "is_first_subscription_payment": True,
    "kofi_transaction_id": "3b1a4f60-0a6e-4bd8-9d8b-1f3c2a000003",
    "shop_items": None,
    "tier_name": "Bronze",
    "shipping": None,
}


async def post_through_serve(config: Path, payload: dict[str, Any]) -> None:
    """Start `donorbot serve`, post one Ko-fi delivery (twice: Ko-fi retries), stop it with SIGTERM."""
    env = {**os.environ, KEY_ENV: KEY, "T_KOFI": SECRETS["T_KOFI"], "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "serve",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=config.parent,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        banner = ""
        while "GET  /healthz" not in banner:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            assert line, (await process.stderr.read()).decode()
            banner += line
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                async with session.post(
                    f"http://127.0.0.1:{match.group(1)}/webhooks/kofi", data={"data": json.dumps(payload)}
                ) as response:
                    assert response.status == 200, await response.text()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


@pytest.mark.parametrize("webhook_first", [True, False], ids=["webhook-then-export", "export-then-webhook"])
async def test_one_payment_by_webhook_and_export_is_stored_once(
    config: Path, capsys: pytest.CaptureFixture[str], webhook_first: bool
) -> None:
    if webhook_first:
        await post_through_serve(config, KOFI_WEBHOOK)
    code, out, err = await asyncio.to_thread(cli, capsys, config, "import", "kofi", str(EXPORT))
    assert code == 0, err
    assert ("duplicates (already in the ledger or twice in the file): 1" in out) is webhook_first
    if not webhook_first:
        await post_through_serve(config, KOFI_WEBHOOK)
    assert query(
        config, "SELECT count(*) FROM donations WHERE external_id = ?", (KOFI_WEBHOOK["kofi_transaction_id"],)
    ) == [(1,)]
    count, total, donors = month_figures(EXPORT)["2025-12"]
    figures = await asyncio.to_thread(stats, capsys, config, "2025-12")
    assert figures["donations"] == count and figures["totals"] == {"USD": f"{total:.2f}"}
    assert figures["donors"] == len(donors)
    # Whichever came first, the donor is one pseudonym: the webhook's email and the export's.
    keys = query(config, "SELECT DISTINCT donor_key FROM donations WHERE recurring = 1")
    assert len(keys) == 1 and keys[0][0] is not None
    named = query(
        config,
        "SELECT display_name FROM donations WHERE external_id = ?",
        (KOFI_WEBHOOK["kofi_transaction_id"],),
    )
    # The webhook says the supporter is public; the export cannot. The first to arrive is kept.
    assert named == [("Supporter B",)] if webhook_first else [(None,)]
