"""``donorbot backup`` while another process writes, and a documented restore."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

KEY = "backup-test-key-0123456789"

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from zoneinfo import ZoneInfo
    from bot.ledger.models import NewDonation
    from bot.ledger.store import Ledger

    async def main(path):
        ledger = await Ledger.open(Path(path), ZoneInfo("Europe/Paris"), b"@KEY@")
        n = 0
        start = datetime(2026, 1, 1, tzinfo=UTC)
        while True:
            batch = [
                NewDonation(source="w", external_id=f"w{n + i}", amount=100 + i, currency="EUR",
                            received_at=start + timedelta(minutes=n + i), donor_id=f"w:{(n + i) % 500}")
                for i in range(50)
            ]
            await ledger.write(batch)
            n += 50
            print(n, flush=True)

    asyncio.run(main(sys.argv[1]))
    """
).replace("@KEY@", KEY)


def donorbot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY},
    )  # fmt: skip


def rollups(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        return {
            t: sorted(db.execute(f"SELECT * FROM {t}").fetchall())
            for t in ("donor_months", "donors", "month_stats", "month_totals")
        }


def test_a_backup_taken_during_writes_is_consistent_and_restores(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[project]\nname = "B"\ndata_dir = "data"\n', encoding="utf-8")
    ledger = tmp_path / "data" / "donorbot.sqlite3"
    assert donorbot(config, "stats").returncode == 0  # creates the ledger
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(ledger)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        for _ in range(20):  # the writer is well under way
            writer.stdout.readline()
        copies = []
        for i in range(3):
            done = donorbot(config, "backup", str(tmp_path / f"copy{i}.sqlite3"))
            assert done.returncode == 0, done.stderr
            assert "integrity ok" in done.stdout
            copies.append(tmp_path / f"copy{i}.sqlite3")
        assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
    finally:
        writer.terminate()
        writer.wait(10)

    counts = []
    for n, copy in enumerate(copies):
        with sqlite3.connect(copy) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            count = db.execute("SELECT count(*) FROM donations").fetchone()[0]
            assert count % 50 == 0, "whole transactions only"
            counts.append(count)
        # The copy's rollups are those a recomputation gives.
        kept = rollups(copy)
        check = tmp_path / f"check{n}.sqlite3"
        shutil.copyfile(copy, check)
        with sqlite3.connect(check) as db:
            db.execute("UPDATE meta SET value = 'stale' WHERE key = 'rollups'")
        check_config = tmp_path / "check.toml"
        check_config.write_text(
            f'[project]\nname = "B"\ndata_dir = "{tmp_path}"\n[ledger]\npath = "check{n}.sqlite3"\n'
        )
        assert donorbot(check_config, "stats").returncode == 0  # rebuilds the rollups on open
        assert rollups(check) == kept
    assert counts == sorted(counts) and counts[-1] > counts[0], "copies follow the writer"

    # Restore (as the README says): stop, copy the backup over the ledger, remove -wal/-shm, start.
    before = json.loads(donorbot(config, "stats", "--json", "--month", "2026-01").stdout)
    shutil.copyfile(copies[0], ledger)
    for extra in ("-wal", "-shm"):
        Path(f"{ledger}{extra}").unlink(missing_ok=True)
    restored = json.loads(donorbot(config, "stats", "--json", "--month", "2026-01").stdout)
    with sqlite3.connect(copies[0]) as db:
        expected = db.execute("SELECT donations FROM month_stats WHERE month = 202601").fetchone()[0]
    assert restored["donations"] == expected
    assert before["donations"] >= restored["donations"]


def test_a_backup_refuses_to_overwrite_the_ledger_and_names_a_missing_one(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[project]\nname = "B"\ndata_dir = "data"\n', encoding="utf-8")
    done = donorbot(config, "backup", str(tmp_path / "x.sqlite3"))
    assert done.returncode == 1 and "no ledger there" in done.stderr
    assert donorbot(config, "stats").returncode == 0
    done = donorbot(config, "backup", str(tmp_path / "data" / "donorbot.sqlite3"))
    assert done.returncode == 1 and "the ledger itself" in done.stderr
    started = time.monotonic()
    assert donorbot(config, "backup", str(tmp_path / "deep" / "dir" / "b.sqlite3")).returncode == 0
    assert time.monotonic() - started < 60
    assert not list(tmp_path.rglob(".*.partial"))
