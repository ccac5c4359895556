"""`donorbot serve` as a real process: a signed webhook in, a row in SQLite, a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest
from sources_support import KEY, KEY_ENV, cli, ledger_path, write_config
from webhook_support import SECRETS, github_headers

ROOT = Path(__file__).resolve().parent.parent

HOOKS = """[webhooks]
host = "127.0.0.1"
port = 0

[webhooks.kofi]
secret_env = "T_KOFI"

[webhooks.github_sponsors]
secret_env = "T_GITHUB"

[webhooks.opencollective]
secret_env = "T_OC"
"""


async def test_serve_stores_signed_donations_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = write_config(tmp_path, HOOKS, timezone="UTC")
    env = {**os.environ, KEY_ENV: KEY, "T_KOFI": SECRETS["T_KOFI"], "T_GITHUB": SECRETS["T_GITHUB"],
           "T_OC": SECRETS["T_OC"], "PYTHONPATH": str(ROOT)}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "serve",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        banner = []
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            assert line, (await process.stderr.read()).decode()
            banner.append(line)
            if "GET  /healthz" in line:
                break
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", "".join(banner))
        assert match, banner
        url = f"http://127.0.0.1:{match.group(1)}"
        assert "POST /webhooks/opencollective/{token}" in "".join(banner)
        assert SECRETS["T_OC"] not in "".join(banner)

        kofi = {"verification_token": SECRETS["T_KOFI"], "message_id": "m-1", "kofi_transaction_id": "tx-1",
                "timestamp": "2025-12-14T10:00:00Z", "type": "Donation", "is_public": True,
                "from_name": "Jo", "message": "hi", "amount": "3.00", "currency": "USD",
                "email": "jo@example.com"}  # fmt: skip
        body = json.dumps({"action": "created", "sponsorship": {
            "node_id": "S_1", "created_at": "2025-12-15T10:00:00Z", "privacy_level": "private",
            "sponsor": {"login": "octocat"}, "tier": {"monthly_price_in_cents": 1000, "is_one_time": True}}}).encode()  # fmt: skip
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/healthz") as response:
                assert (await response.json())["webhooks"] == ["kofi", "github-sponsors", "opencollective"]
            for _ in range(2):  # the second is Ko-fi retrying
                async with session.post(url + "/webhooks/kofi", data={"data": json.dumps(kofi)}) as response:
                    assert response.status == 200
            async with session.post(
                url + "/webhooks/github-sponsors", data=body, headers=github_headers(body)
            ) as r:
                assert r.status == 200
            async with session.post(
                url + "/webhooks/kofi", data={"data": json.dumps({**kofi, "verification_token": "x"})}
            ) as r:
                assert r.status == 401
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    stdout = (await process.stdout.read()).decode()
    stderr = (await process.stderr.read()).decode()
    assert code == 0, stderr
    assert "stopping" in stdout
    for secret in SECRETS.values():
        assert secret not in stdout + stderr
    with sqlite3.connect(ledger_path(config)) as db:
        rows = sorted(db.execute("SELECT source, external_id, amount, currency, display_name FROM donations"))
    assert rows == [("github-sponsors", "S_1", 1000, "USD", None), ("kofi", "tx-1", 300, "USD", "Jo")]


def test_serve_refuses_to_start_without_the_pseudonym_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    config = write_config(tmp_path, HOOKS)
    code, out, err = cli(capsys, config, "serve")
    assert code == 2
    assert f"environment variable {KEY_ENV} is not set" in err
    assert "listening" not in out
