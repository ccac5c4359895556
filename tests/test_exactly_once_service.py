"""One sender per ledger, through ``donorbot`` processes: ``run`` holds the ledger's lease.

A second ``run`` refuses and names the holder; ``post`` and ``forget`` given while
``run`` holds it hand their work to it; ``run`` and ``post`` started together while a
bulletin is due print it once.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from outbox_support import TITLE, console_project, deliveries, donorbot, seed, spawn

from bot.app import Service
from bot.config import Config, load_config
from bot.ledger.store import BUSY_TIMEOUT_MS


def started(run: subprocess.Popen[str]) -> str:
    """Wait for ``run`` to say it is running (it then holds the lease and listens); what it printed."""
    assert run.stdout is not None
    printed = ""
    for line in run.stdout:
        printed += line
        if line.startswith("donorbot running"):
            return printed
    raise AssertionError(printed + (run.stderr.read() if run.stderr else ""))


def stop(run: subprocess.Popen[str]) -> tuple[str, str]:
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    return out, err


def test_a_second_run_refuses_and_names_the_first_and_post_hands_over_to_it(tmp_path: Path) -> None:
    config = console_project(tmp_path)
    seed(config)
    first = spawn(config, "run")
    try:
        assert TITLE not in started(first)
        second = donorbot(config, "run", timeout=60)
        assert second.returncode == 1
        assert "another `donorbot run` is already running" in second.stderr, second.stderr
        assert f"pid {first.pid} on " in second.stderr
        assert "Traceback" not in second.stderr

        status = donorbot(config, "status")
        assert f"Service: donorbot run, pid {first.pid} on " in status.stdout, status.stdout

        control = tmp_path / "data" / "donorbot.sock"
        assert control.stat().st_mode & 0o777 == 0o600, "only this user may hand work over"
        for request, problem in (
            (b'{"op": "send"}\n', '"v": 1'),
            (b'{"v": 1, "op": "drop"}\n', "unknown op"),
        ):
            with socket.socket(socket.AF_UNIX) as raw:
                raw.connect(str(control))
                raw.sendall(request)
                answer = json.loads(raw.makefile("rb").readline())
            assert answer["ok"] is False and problem in answer["error"], answer

        post = donorbot(config, "post", "--month", "2026-10")
        assert post.returncode == 0, post.stderr
        assert "2026-10 -> console: sent" in post.stdout
        assert "handed to the running donorbot run" in post.stderr and f"pid {first.pid}" in post.stderr
        assert TITLE not in post.stdout, "the running service printed it, on its own console"
        again = donorbot(config, "post", "--month", "2026-10")
        assert again.returncode == 0 and "console: already sent" in again.stdout

        forget = donorbot(config, "forget", "manual:donor-1")
        assert forget.returncode == 0, forget.stderr
        assert "forgotten" in forget.stdout and "done by the running donorbot run" in forget.stderr
    finally:
        out, _ = stop(first)
    assert out.count(TITLE) == 1
    assert deliveries(config)[("bulletin", 202610, "console")][:2] == ("sent", 1)
    ledger = load_config(config).ledger_path
    with sqlite3.connect(ledger) as db:
        names = db.execute("SELECT count(*) FROM donations WHERE external_id LIKE '%-1'").fetchone()[0]
    assert names == 2, "the donor's donations are still counted"

    alone = donorbot(config, "status")
    assert "Service: not running" in alone.stdout


def test_run_and_post_started_together_while_a_bulletin_is_due_print_it_once(tmp_path: Path) -> None:
    # Every day at midnight: the run of today is due at start (caught up), for last month.
    config = console_project(tmp_path, schedule='cron = "0 0 * * *"\ncatch_up_days = 2')
    now = time.gmtime()
    seed(config, months=((now.tm_year - (now.tm_mon == 1), (now.tm_mon - 2) % 12 + 1),))
    run = spawn(config, "run")
    post = spawn(config, "post")
    try:
        post_out, post_err = post.communicate(timeout=180)
        early = started(run)
        for _ in range(600):  # the catch-up may still be printing
            if all(state == "sent" for state, _, _ in deliveries(config).values()) and deliveries(config):
                break
            time.sleep(0.1)
    finally:
        run_out, _ = stop(run)
    run_out = early + run_out
    assert post.returncode == 0, post_err
    assert run_out.count(TITLE) + post_out.count(TITLE) == 1, (run_out, post_out)
    ((state, attempts, _),) = deliveries(config).values()
    assert (state, attempts) == ("sent", 1)


def test_a_scheduled_run_on_a_ledger_locked_by_an_import_is_late_never_lost(tmp_path: Path) -> None:
    config_path = console_project(tmp_path)
    seed(config_path)
    config = load_config(config_path)
    out = io.StringIO()
    asyncio.run(fire_while_locked(config, out))
    assert out.getvalue().count(TITLE) == 1, "posted once the lock was gone"
    assert deliveries(config_path)[("bulletin", 202610, "console")][0] == "sent"


async def fire_while_locked(config: Config, out: io.StringIO) -> None:
    """Start the service, lock the ledger from another process, and fire the schedule."""
    # 1 November 2026, 10:00 in Paris: October's bulletin is due.
    service = Service(config, clock=lambda: datetime(2026, 11, 1, 9, tzinfo=UTC), retry_every=0, console=out)
    await service.start()
    try:
        # Another process (an import) holds the write lock longer than the ledger waits for it.
        held = BUSY_TIMEOUT_MS / 1000 + 4
        importer = await asyncio.create_subprocess_exec(
            sys.executable, "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(float(sys.argv[2]))\n"
            "db.execute('ROLLBACK')\n",
            str(config.ledger_path), str(held), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert importer.stdout is not None
        assert (await importer.stdout.readline()).strip() == b"locked"
        await service.fire("console")  # what the scheduler calls at the cron's time
        async with asyncio.timeout(held + 30):
            while service._tasks:
                await asyncio.gather(*list(service._tasks), return_exceptions=True)
        await importer.wait()
    finally:
        await service.stop()
