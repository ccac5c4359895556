"""No secret, token, email or signature in any log line; check-config warns about readable files;
webhooks refuse wrong signatures of the right length, stale timestamps and big bodies."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import aiohttp
from webhook_support import SECRETS, github_headers, hex_hmac, stripe_headers

KEY = "security-pseudonym-key-5e1f0a77"
EMAILS = ["jo.secret@example.org", "pat.hidden@example.net", "lee.private@example.com"]


def write_config(folder: Path) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f"""
[project]
name = "Donor Friends"
data_dir = "{folder / "data"}"

[logging]
level = "DEBUG"

[webhooks]
port = 0
max_body_bytes = 4096

[webhooks.kofi]
secret_env = "T_KOFI"

[webhooks.github_sponsors]
secret_env = "T_GITHUB"

[webhooks.stripe]
secret_env = "T_STRIPE"

[[targets]]
name = "console"
platform = "console"
thanks = true
alerts = true
""",
        encoding="utf-8",
    )
    config.chmod(0o600)
    (folder / "data").mkdir(mode=0o700, exist_ok=True)
    return config


def env() -> dict[str, str]:
    return {**os.environ, **SECRETS, "DONORBOT_PSEUDONYM_KEY": KEY, "PYTHONUNBUFFERED": "1"}


async def donorbot(config: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env(),
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode() + err.decode()


async def test_no_secret_email_or_signature_reaches_any_log_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    csv = tmp_path / "d.csv"
    csv.write_text(
        "id,date,amount,currency,donor,name,public\n"
        + "".join(
            f"e{i},2026-01-0{i + 1}T10:00:00Z,10.00,EUR,{mail},Named {i},true\n"
            for i, mail in enumerate(EMAILS)
        ),
        encoding="utf-8",
    )
    seen = await donorbot(config, "import", "csv", str(csv))

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "run",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env(),
    )  # fmt: skip
    assert proc.stdout is not None
    first = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    base = re.search(r"http://127\.0\.0\.1:\d+", first)
    assert base, first
    signatures = []
    async with aiohttp.ClientSession(base_url=base.group(0)) as http:
        kofi = {
            "verification_token": SECRETS["T_KOFI"], "message_id": "m1", "kofi_transaction_id": "k1",
            "timestamp": "2026-01-09T10:00:00Z", "type": "Donation", "is_public": True, "from_name": "Kofi Fan",
            "message": "hello", "amount": "4.00", "currency": "EUR", "email": EMAILS[0],
            "is_subscription_payment": False, "is_first_subscription_payment": False,
        }  # fmt: skip
        async with http.post("/webhooks/kofi", data={"data": json.dumps(kofi)}) as answer:
            assert answer.status == 200
        wrong = {**kofi, "verification_token": "not-the-token-" + SECRETS["T_KOFI"][-6:]}
        async with http.post("/webhooks/kofi", data={"data": json.dumps(wrong)}) as answer:
            assert answer.status == 401
        body = json.dumps(
            {"action": "created", "sponsorship": {"sponsor": {"login": "x", "email": EMAILS[1]}}}
        ).encode()
        headers = github_headers(body)
        real = headers["X-Hub-Signature-256"]
        forged = "sha256=" + ("0" if real[7] != "0" else "1") + real[8:]  # right length, one digit off
        signatures += [real[7:], forged[7:]]
        async with http.post(
            "/webhooks/github-sponsors", data=body, headers={**headers, "X-Hub-Signature-256": forged}
        ) as answer:
            assert answer.status == 401
        stale = json.dumps({"id": "evt_1", "type": "checkout.session.completed"}).encode()
        old = stripe_headers(stale, at=int(time.time()) - 3600)
        signatures.append(old["Stripe-Signature"].split("v1=")[1])
        async with http.post("/webhooks/stripe", data=stale, headers=old) as answer:
            assert answer.status == 401, "a signature older than the tolerance is a replay"
        async with http.post("/webhooks/kofi", data=b"x" * 10_000) as answer:
            assert answer.status == 413
        async with http.get("/metrics") as answer:
            assert "donorbot_webhook_rejections_total" in await answer.text()
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    seen += first + out.decode() + err.decode()
    seen += await donorbot(config, "post", "--target", "console", "--month", "2026-01")

    assert "DEBUG" in seen, "the logs really were at DEBUG"
    for secret in [*SECRETS.values(), KEY]:
        assert secret not in seen, "a secret reached a log line"
    for mail in EMAILS:
        assert mail not in seen and mail.split("@")[0] not in seen, "an email reached a log line"
    for signature in signatures:
        assert signature not in seen
    assert hex_hmac(KEY, b"email:" + EMAILS[0].encode())[:16] not in seen


async def test_check_config_warns_when_secrets_sit_in_files_others_can_read(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    quiet = await donorbot(config, "check-config")
    assert "readable by other users" not in quiet
    config.chmod(0o644)
    (tmp_path / "data").chmod(0o755)
    loud = await donorbot(config, "check-config")
    assert f"{config}: the configuration file is readable by other users" in loud
    assert "data" in loud and loud.count("readable by other users") >= 2
