"""Property-based tests: arbitrary and corrupted input gives a clear error or a clean
rejection, never a crash, a partial import or a stored half-record.

Importers run on real exports (tests/fixtures) corrupted by hypothesis, into a real
SQLite ledger; webhook parsers get mutated real payloads and arbitrary JSON; the config
loader gets a mutated config.example.toml.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Config, ConfigError, load_config
from bot.ledger.models import NewDonation, RefundEvent
from bot.ledger.store import Ledger
from bot.sources.pipeline import ImportFailed, import_file
from bot.sources.registry import IMPORTERS
from bot.sources.webhooks import (
    buymeacoffee,
    donorbox,
    github_sponsors,
    helloasso,
    kofi,
    opencollective,
    patreon,
    stripe,
)
from bot.sources.webhooks.common import Ignored, Malformed

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
PARIS = ZoneInfo("Europe/Paris")
KEY = b"fuzz-test-key-0123456789"
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EXPORTS = {
    "opencollective": FIXTURES / "opencollective" / "transactions.csv",
    "liberapay": FIXTURES / "liberapay" / "patrons.csv",
    "github-sponsors": FIXTURES / "github_sponsors" / "sponsors.csv",
    "paypal": FIXTURES / "paypal" / "activity_us.csv",
}
NATIVE = (
    "id,date,amount,currency,donor,name,message,public,recurring,kind,status\n"
    "n1,2026-01-05T10:00:00Z,12.50,EUR,ann@example.org,Ann,Thanks,true,false,person,succeeded\n"
    "n2,2026-01-06,5,USD,,,,false,true,organisation,succeeded\n"
    "n1,2026-01-07T10:00:00+01:00,3.00,EUR,bob@example.org,,,,,,refunded\n"
)

# Corruptions a real file meets: a cell replaced, a line cut, a line doubled, stray bytes.
garbage = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", '"', '""', ",", ";", "\t", "\n", "-1", "1e309", "NaN", "９９", "2026-13-45", "€", "\x00"]
    ),
)


def corrupt(data: st.DataObject, text: str) -> bytes:
    lines = text.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4), label="corruptions")):
        if not lines:
            break
        index = data.draw(st.integers(0, len(lines) - 1), label="line")
        how = data.draw(st.sampled_from(["cell", "cut", "double", "drop", "insert"]), label="how")
        line = lines[index]
        if how == "cell":
            start = data.draw(st.integers(0, len(line)), label="start")
            end = data.draw(st.integers(start, len(line)), label="end")
            lines[index] = line[:start] + data.draw(garbage, label="with") + line[end:]
        elif how == "cut":
            lines[index] = line[: data.draw(st.integers(0, len(line)), label="cut at")]
        elif how == "double":
            lines.insert(index, line)
        elif how == "drop":
            del lines[index]
        else:
            lines.insert(index, data.draw(garbage, label="inserted") + "\n")
    raw = "".join(lines).encode("utf-8", "surrogatepass")
    if data.draw(st.booleans(), label="raw bytes"):
        at = data.draw(st.integers(0, len(raw)), label="at")
        raw = raw[:at] + data.draw(st.binary(max_size=8), label="bytes") + raw[at:]
    return raw


def ledger_rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return sorted(db.execute("SELECT * FROM donations").fetchall())


async def import_once(folder: Path, platform: str, payload: bytes) -> None:
    ledger_path = folder / "ledger.sqlite3"
    ledger = await Ledger.open(ledger_path, PARIS, KEY)
    try:
        await ledger.write(
            [
                NewDonation(
                    source="seed", external_id="s1", amount=100, currency="EUR",
                    received_at=datetime(2026, 1, 1, tzinfo=PARIS), donor_id="seed:1",
                )
            ]
        )  # fmt: skip
        before = ledger_rows(ledger_path)
        export = folder / "export.csv"
        export.write_bytes(payload)
        try:
            summary = await import_file(ledger, IMPORTERS[platform], export, PARIS)
        except ImportFailed as failed:
            assert failed.errors and all(str(export) in e or "column" in e or e for e in failed.errors)
            assert ledger_rows(ledger_path) == before, "a failed import stores nothing"
            return
        after = ledger_rows(ledger_path)
        assert len(after) - len(before) == summary.imported
        for row in after:
            assert isinstance(row[6], int) and row[6] >= 0, "amounts are whole minor units"  # amount
    finally:
        await ledger.close()


@pytest.mark.parametrize("platform", [*EXPORTS, "csv"])
@FUZZ
@given(data=st.data())
def test_a_corrupted_export_is_imported_whole_or_refused_whole(platform: str, data: st.DataObject) -> None:
    text = NATIVE if platform == "csv" else EXPORTS[platform].read_text(encoding="utf-8-sig")
    payload = corrupt(data, text)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(import_once(Path(folder), platform, payload))


# --- webhook parsers ----------------------------------------------------------------------------

Parser = Callable[[bytes, Mapping[str, str]], Any]
PARSERS: dict[str, Parser] = {
    "kofi": kofi.parse,
    "github_sponsors": github_sponsors.parse,
    "stripe": stripe.parse,
    "opencollective": opencollective.parse,
    "patreon": patreon.parse,
    "donorbox": donorbox.parse,
    "buymeacoffee": buymeacoffee.parse,
    "helloasso": helloasso.parse,
}
HEADERS = {
    "github_sponsors": {"X-GitHub-Event": "sponsorship"},
    "patreon": {"X-Patreon-Event": "members:pledge:create"},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)


def check_outcome(outcome: Any) -> None:
    if isinstance(outcome, Ignored):
        assert outcome.reason
        return
    assert isinstance(outcome, list)
    for item in outcome:
        assert isinstance(item, NewDonation | RefundEvent)
        assert item.source and item.external_id
        if isinstance(item, NewDonation):
            assert isinstance(item.amount, int) and item.amount >= 0
            assert len(item.currency) == 3 and item.currency.isupper()
            assert item.received_at.tzinfo is not None


def parse_safely(name: str, body: bytes) -> None:
    try:
        outcome = PARSERS[name](body, HEADERS.get(name, {}))
    except Malformed as exc:
        assert str(exc), "a rejection says why"
        return
    check_outcome(outcome)


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(value=json_values, raw=st.binary(max_size=64))
def test_webhook_parsers_take_anything_and_answer_or_reject(name: str, value: Any, raw: bytes) -> None:
    parse_safely(name, json.dumps(value).encode())
    parse_safely(name, raw)
    if name == "kofi":
        parse_safely(name, b"data=" + json.dumps(value).encode())


KOFI = {
    "verification_token": "t", "message_id": "m1", "timestamp": "2026-01-01T10:00:00Z", "type": "Donation",
    "is_public": True, "from_name": "Jo", "message": "hi", "amount": "3.00", "currency": "USD",
    "email": "jo@example.org", "kofi_transaction_id": "tx1", "is_subscription_payment": False,
}  # fmt: skip


@FUZZ
@given(key=st.sampled_from(sorted(KOFI)), value=json_values)
def test_a_real_kofi_payload_with_any_field_changed_is_answered_or_rejected(key: str, value: Any) -> None:
    from urllib.parse import urlencode

    payload = {**KOFI, key: value}
    parse_safely("kofi", urlencode({"data": json.dumps(payload)}).encode())


# --- the config loader --------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_a_corrupted_config_is_loaded_or_reported_line_by_line(data: st.DataObject) -> None:
    text = (HERE.parent / "config.example.toml").read_text(encoding="utf-8")
    payload = corrupt(data, text)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_bytes(payload)
        try:
            config = load_config(path)
        except ConfigError as exc:
            assert exc.problems
            assert all(problem.strip() and "\n" not in problem for problem in exc.problems)
            return
        assert isinstance(config, Config)
