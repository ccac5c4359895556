"""The webhook intake's spool: on disk before 200, drained into the ledger, poison set aside.

The end-to-end cases run ``donorbot run`` as a process while another process holds the
ledger's write lock (as a long import does) for longer than the ledger's busy timeout: before
the spool, that delivery waited 10 s and got 500, and was lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from test_core_cli import KEY, donorbot, project

from bot.ledger.models import NewDonation, RefundEvent, Status, WriteResult
from bot.sources.webhooks.spool import Intake, Spool, spool_path

ROOT = Path(__file__).resolve().parent.parent


def _donation(n: int) -> NewDonation:
    return NewDonation(
        "kofi", f"tx-{n}", 300 + n, "EUR", datetime(2026, 1, 14, 10, tzinfo=UTC), donor_id="kofi:jo@example.com",
        public=True, display_name="Jo", message="hi",
    )  # fmt: skip


def _rows(path: Path, table: str = "entries") -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_a_delivery_is_on_disk_before_the_answer_and_leaves_the_spool_once_stored(
    tmp_path: Path,
) -> None:
    release = asyncio.Event()
    written: list[list[object]] = []

    async def slow_ledger(items: list[NewDonation | RefundEvent]) -> WriteResult:
        await release.wait()
        written.append(list(items))
        return WriteResult(inserted=len(items))

    path = spool_path(tmp_path / "donorbot.sqlite3")
    intake = Intake(Spool(path), slow_ledger, answer_within=0.2)
    await intake.start()
    try:
        started = time.monotonic()
        assert await intake.take("kofi", [_donation(1)]) is None, "queued: the ledger is busy"
        assert time.monotonic() - started < 1.0
        assert _rows(path) == 1, "on disk (another connection sees it) before the answer"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert intake.depth == (1, 0)
        release.set()
        for _ in range(100):
            if not _rows(path):
                break
            await asyncio.sleep(0.05)
        for _ in range(100):
            if intake.depth == (0, 0):
                break
            await asyncio.sleep(0.05)
        assert _rows(path) == 0 and intake.depth == (0, 0)
        assert written == [[_donation(1)]], "written once, as it was"
        # With the ledger free, the answer is what the ledger did.
        assert await intake.take("kofi", [_donation(2)]) == WriteResult(inserted=1)
    finally:
        await intake.close()


async def test_a_poison_entry_is_set_aside_with_its_reason_and_never_retried(tmp_path: Path) -> None:
    calls: list[str] = []

    async def refusing(items: list[NewDonation | RefundEvent]) -> WriteResult:
        calls.append(items[0].external_id)
        raise ValueError("kofi:tx-9: amount -5 is out of range")

    path = spool_path(tmp_path / "donorbot.sqlite3")
    intake = Intake(Spool(path), refusing)
    await intake.start()
    try:
        assert await intake.take("kofi", [_donation(9)]) is None
        await asyncio.sleep(0.3)
        assert intake.depth == (0, 1)
    finally:
        await intake.close()
    assert calls == ["tx-9"], "tried once"
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT platform, reason FROM poison").fetchall() == [
            ("kofi", "ValueError: kofi:tx-9: amount -5 is out of range")
        ]
        assert db.execute("SELECT count(*) FROM entries").fetchone() == (0,)


async def test_a_busy_ledger_is_retried_and_what_is_left_is_drained_at_the_next_start(tmp_path: Path) -> None:
    attempts: list[int] = []

    async def locked(items: list[NewDonation | RefundEvent]) -> WriteResult:
        attempts.append(1)
        raise RuntimeError("the ledger is locked by another process")

    path = spool_path(tmp_path / "donorbot.sqlite3")
    intake = Intake(Spool(path), locked)
    await intake.start()
    try:
        assert await intake.take("kofi", [_donation(3)]) is None
        assert await intake.take("kofi", [RefundEvent("kofi", "tx-0", Status.REFUNDED, None)]) is None
        await asyncio.sleep(1.5)
    finally:
        await intake.close()
    assert len(attempts) >= 2, "tried again (after 1 s)"
    assert _rows(path) == 2, "kept, not set aside"

    stored: list[object] = []

    async def free(items: list[NewDonation | RefundEvent]) -> WriteResult:
        stored.extend(items)
        return WriteResult(inserted=1)

    intake = Intake(Spool(path), free)
    await intake.start()
    try:
        for _ in range(100):
            if len(stored) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await intake.close()
    assert stored == [_donation(3), RefundEvent("kofi", "tx-0", Status.REFUNDED, None)], "in order, whole"
    assert _rows(path) == 0


# --- through the donorbot command -----------------------------------------------------------

HOOKS = """[webhooks]
host = "127.0.0.1"
port = 0

[webhooks.kofi]
secret_env = "T_KOFI"
"""
TOKEN = "kofi-token-spool-tests"
LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")  # what an import holds while it writes
db.execute("INSERT INTO meta (key, value) VALUES ('lock-test', '1')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def _kofi(n: int) -> dict[str, str]:
    payload = {
        "verification_token": TOKEN, "message_id": f"m-{n}", "kofi_transaction_id": f"tx-{n}",
        "timestamp": "2026-01-14T10:00:00Z", "type": "Donation", "is_public": False, "from_name": "Jo",
        "message": "", "amount": "3.00", "currency": "EUR", "email": f"jo{n}@example.com",
    }  # fmt: skip
    return {"data": json.dumps(payload)}


async def _start_run(config: Path) -> tuple[asyncio.subprocess.Process, str]:
    env = {**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY, "T_KOFI": TOKEN, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "run",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
    match = re.search(r"webhooks on (http://127\.0\.0\.1:\d+)", line)
    if not match:
        process.kill()
        raise AssertionError(line + (await process.stderr.read()).decode())
    return process, match.group(1)


async def _stop(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), 60)
    return (await process.stderr.read()).decode()


def _kofi_ids(ledger: Path) -> list[str]:
    with sqlite3.connect(ledger) as db:
        return sorted(r[0] for r in db.execute("SELECT external_id FROM donations WHERE source = 'kofi'"))


def _locker(ledger: Path, seconds: float) -> subprocess.Popen[str]:
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(ledger), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    return locker


async def test_a_webhook_during_a_long_write_lock_gets_200_at_once_and_reaches_the_ledger(
    tmp_path: Path,
) -> None:
    config = project(tmp_path, HOOKS)
    assert donorbot(config, "stats").returncode == 0
    ledger = tmp_path / "data" / "donorbot.sqlite3"
    process, url = await _start_run(config)
    locker = None
    try:
        async with aiohttp.ClientSession() as session:
            locker = await asyncio.to_thread(_locker, ledger, 12.0)  # over the ledger's 10 s busy timeout
            took = []
            for n in (1, 2, 3):
                started = time.monotonic()
                async with session.post(url + "/webhooks/kofi", data=_kofi(n)) as response:
                    took.append(time.monotonic() - started)
                    assert response.status == 200, await response.text()
                    assert (await response.json())["status"] == "queued"
            assert max(took) < 2.0, took
            async with session.get(url + "/metrics") as response:
                metrics = await response.text()
            assert "donorbot_webhook_spool_depth 3" in metrics, metrics
            await asyncio.to_thread(locker.wait, 30)
            for _ in range(300):  # the drain retries (1 s, 2 s, 4 s...) once the lock is gone
                if len(_kofi_ids(ledger)) == 3:
                    break
                await asyncio.sleep(0.1)
            assert _kofi_ids(ledger) == ["tx-1", "tx-2", "tx-3"]
            # The drain commits the donations, then empties the spool: the gauge follows.
            for _ in range(100):
                async with session.get(url + "/metrics") as response:
                    metrics = await response.text()
                if "donorbot_webhook_spool_depth 0" in metrics:
                    break
                await asyncio.sleep(0.1)
            assert "donorbot_webhook_spool_depth 0" in metrics, metrics
    finally:
        if locker is not None and locker.poll() is None:
            locker.kill()
        stderr = await _stop(process)
    assert "Traceback" not in stderr
    assert _rows(spool_path(ledger)) == 0


async def test_what_a_stopped_service_left_in_the_spool_is_stored_at_the_next_start(tmp_path: Path) -> None:
    config = project(tmp_path, HOOKS)
    assert donorbot(config, "stats").returncode == 0
    ledger = tmp_path / "data" / "donorbot.sqlite3"
    process, url = await _start_run(config)
    locker = None
    try:
        locker = await asyncio.to_thread(_locker, ledger, 30.0)
        async with (
            aiohttp.ClientSession() as session,
            session.post(url + "/webhooks/kofi", data=_kofi(7)) as r,
        ):
            assert r.status == 200 and (await r.json())["status"] == "queued"
    finally:
        await _stop(process)  # stopped while the ledger is still locked
        if locker is not None:
            locker.kill()
            await asyncio.to_thread(locker.wait, 10)
    assert _rows(spool_path(ledger)) == 1 and _kofi_ids(ledger) == []
    process, url = await _start_run(config)
    try:
        for _ in range(100):
            if _kofi_ids(ledger):
                break
            await asyncio.sleep(0.1)
    finally:
        await _stop(process)
    assert _kofi_ids(ledger) == ["tx-7"]
    assert _rows(spool_path(ledger)) == 0


def test_refused_deliveries_one_after_the_other_are_all_set_aside(tmp_path: Path) -> None:
    """An entry's id is reused once it is gone; the poison table must not mind."""
    spool = Spool(spool_path(tmp_path / "donorbot.sqlite3"))
    try:
        for n in range(3):
            entry = spool.add("kofi", [_donation(n)])
            spool.set_aside(entry, f"refused {n}")
        assert spool.depth() == (0, 3)
    finally:
        spool.close()
