"""The ledger's health through the ``donorbot`` command, each case a separate process.

A damaged ledger, a 0-byte file, a ledger deleted or replaced under ``donorbot run``, a
ledger on a read-only medium (a read-only bind mount in a private mount namespace made by
``unshare``), and backups of a ledger whose path holds ``#`` and ``?``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from test_core_cli import KEY, donorbot, project, write_csv

ROOT = Path(__file__).resolve().parent.parent
ROWS = [
    f"d{i},2026-0{1 + i % 9}-05T10:00:00Z,{500 + i},EUR,donor{i % 40},,false,succeeded" for i in range(400)
]


def _ledger(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    config = project(tmp_path, extra)
    done = donorbot(config, "import", "csv", str(write_csv(tmp_path / "d.csv", ROWS)))
    assert done.returncode == 0, done.stderr
    return config, tmp_path / "data" / "donorbot.sqlite3"


def _assert_clear_failure(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_a_damaged_ledger_is_refused_with_the_file_and_how_to_restore(tmp_path: Path) -> None:
    config, ledger = _ledger(tmp_path)
    with sqlite3.connect(ledger) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 4
    with ledger.open("r+b") as handle:  # scribble over a page in the middle (a b-tree page)
        handle.seek(page_size * (pages // 2) + 8)
        handle.write(b"\xff" * 64)
    for command in (["stats"], ["preview"], ["run"]):
        done = donorbot(config, *command)
        _assert_clear_failure(done, str(ledger), "damaged", "backup")


def test_a_ledger_too_large_to_check_at_open_still_gives_the_message_when_a_damaged_page_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sources_support import cli

    from bot.ledger import health

    config, ledger = _ledger(tmp_path)
    monkeypatch.setattr(health, "QUICK_CHECK_AT_OPEN", 0)  # as if it were over the size checked at open
    monkeypatch.setenv("DONORBOT_PSEUDONYM_KEY", KEY)
    with sqlite3.connect(ledger) as db:
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'month_stats'").fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    with ledger.open("r+b") as handle:  # the page the month figures are read from
        handle.seek(page_size * (root - 1))
        handle.write(b"\xff" * page_size)
    code, _, err = cli(capsys, config, "stats", "--month", "2026-01")
    assert code == 1, err
    assert str(ledger) in err and "damaged" in err and "backup" in err, err
    assert "Traceback" not in err


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    config = project(tmp_path)
    ledger = tmp_path / "data" / "donorbot.sqlite3"
    ledger.parent.mkdir()
    ledger.write_bytes(b"id,date,amount\n" * 200)  # a CSV copied to the wrong name
    done = donorbot(config, "stats")
    _assert_clear_failure(done, str(ledger), "damaged", "not a database", "backup")
    assert ledger.read_bytes() == b"id,date,amount\n" * 200


def test_a_0_byte_ledger_is_refused_and_a_fresh_path_is_a_new_ledger(tmp_path: Path) -> None:
    config = project(tmp_path, '[[targets]]\nname = "console"\nplatform = "console"\n')
    ledger = tmp_path / "data" / "donorbot.sqlite3"
    ledger.parent.mkdir()
    ledger.touch()
    for command in (["stats"], ["post", "--month", "2026-01"], ["backup", str(tmp_path / "b.sqlite3")]):
        done = donorbot(config, *command)
        _assert_clear_failure(done, str(ledger), "empty (0 bytes)")
        assert ledger.stat().st_size == 0, "left as it was"
    assert not (tmp_path / "b.sqlite3").exists()
    ledger.unlink()
    done = donorbot(config, "stats")
    assert done.returncode == 0, done.stderr
    assert ledger.stat().st_size > 0


def _read_only(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``donorbot ARGS`` with the data folder bind-mounted read-only in a private mount namespace."""
    data = tmp_path / "data"
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", str(data),
         sys.executable, "-m", "bot", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY},
    )  # fmt: skip


def test_a_ledger_on_a_read_only_medium_still_serves_reads(tmp_path: Path) -> None:
    config, _ = _ledger(tmp_path)
    probe = _read_only(
        tmp_path, config, "import", "csv", str(write_csv(tmp_path / "e.csv", ["x,2026-01-02,5,EUR,,,,"]))
    )
    assert probe.returncode == 1 and "read-only" in probe.stderr, probe.stderr  # really read-only
    assert "Traceback" not in probe.stderr
    expected = json.loads(donorbot(config, "stats", "--month", "2026-01", "--json").stdout)

    stats = _read_only(tmp_path, config, "stats", "--month", "2026-01", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout) == expected
    preview = _read_only(tmp_path, config, "preview", "--month", "2026-01")
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.strip()
    copy = tmp_path / "copy.sqlite3"
    backup = _read_only(tmp_path, config, "backup", str(copy))
    assert backup.returncode == 0, backup.stderr
    assert "400 donations" in backup.stdout
    run = _read_only(tmp_path, config, "run")
    _assert_clear_failure(run, "read-only")


def test_a_backup_of_a_ledger_whose_path_holds_hash_and_question_marks(tmp_path: Path) -> None:
    odd = tmp_path / "odd #1?x=%41"
    odd.mkdir()
    config, _ = _ledger(odd, '[ledger]\npath = "le#dger?.sqlite3"\n')
    ledger = odd / "data" / "le#dger?.sqlite3"
    assert ledger.stat().st_size > 0
    copy = odd / "back#up?.sqlite3"
    done = donorbot(config, "backup", str(copy))
    assert done.returncode == 0, done.stderr
    assert "400 donations" in done.stdout and "match the ledger" in done.stdout, done.stdout
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT count(*) FROM donations").fetchone() == (400,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    # Nothing was created at the place an unquoted URI would have pointed to.
    assert sorted(p.name for p in odd.iterdir()) == sorted(
        ["back#up?.sqlite3", "config.toml", "d.csv", "data"]
    )


KOFI = """[webhooks]
host = "127.0.0.1"
port = 0

[webhooks.kofi]
secret_env = "T_KOFI"
"""
KOFI_TOKEN = "kofi-token-health-tests"


def _kofi(n: int) -> dict[str, str]:
    payload = {
        "verification_token": KOFI_TOKEN, "message_id": f"m-{n}", "kofi_transaction_id": f"tx-{n}",
        "timestamp": "2026-01-14T10:00:00Z", "type": "Donation", "is_public": True, "from_name": "Jo",
        "message": "hi", "amount": "3.00", "currency": "EUR", "email": "jo@example.com",
    }  # fmt: skip
    return {"data": json.dumps(payload)}


async def _run_until_ready(config: Path) -> tuple[asyncio.subprocess.Process, str]:
    env = {**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY, "T_KOFI": KOFI_TOKEN, "PYTHONPATH": str(ROOT)}
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


def _restore(backup: Path, ledger: Path) -> None:
    shutil.copyfile(backup, ledger)
    for extra in ("-wal", "-shm"):
        Path(f"{ledger}{extra}").unlink(missing_ok=True)


async def _stop(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), 30)
    return (await process.stderr.read()).decode()


async def test_a_ledger_deleted_or_replaced_under_run_stops_the_intake_and_healthz_says_why(
    tmp_path: Path,
) -> None:
    config, ledger = _ledger(tmp_path, KOFI)
    for change in ("deleted", "replaced"):
        process, url = await _run_until_ready(config)
        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(url + "/webhooks/kofi", data=_kofi(1)) as response:
                    assert response.status == 200
                aside = tmp_path / f"aside-{change}.sqlite3"
                shutil.copyfile(ledger, aside)
                if change == "deleted":
                    ledger.unlink()
                else:  # a restore done without stopping the bot: another file at the path
                    tmp = ledger.with_name("new.sqlite3")
                    shutil.copyfile(aside, tmp)
                    os.replace(tmp, ledger)
                async with session.post(url + "/webhooks/kofi", data=_kofi(2)) as response:
                    assert response.status == 503, await response.text()
                async with session.get(url + "/healthz") as response:
                    assert response.status == 503
                    health = await response.json()
                assert health["status"] == "unhealthy" and change in health["problem"], health
                assert str(ledger) not in health["problem"], "no path in an HTTP answer"
        finally:
            stderr = await _stop(process)
        assert f"not taking webhooks: the ledger file was {change}" in stderr, stderr
        assert "Traceback" not in stderr
        if change == "deleted":
            _restore(aside, ledger)
    with sqlite3.connect(ledger) as db:
        kofi = db.execute("SELECT external_id FROM donations WHERE source = 'kofi'").fetchall()
    assert kofi == [("tx-1",)], "the refused delivery was not written anywhere"
