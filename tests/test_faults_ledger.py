"""The ledger under faults: kill -9 in the middle of an import, a second process holding the
write lock, a read-only ledger, a full disk. Clear errors, nothing lost, nothing half-written."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_checks import index_sql

from bot.ledger.migrations import DONATION_INDEXES

KEY = "faults-test-key-0123456789"
HEADER = "id,date,amount,currency,donor,name,public\n"


def donorbot(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        capture_output=True, text=True, check=False, timeout=timeout,
        env={**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY},
    )  # fmt: skip


def project(folder: Path, data: Path | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    config.write_text(f'[project]\nname = "F"\ndata_dir = "{data or folder / "data"}"\n', encoding="utf-8")
    return config


def big_csv(path: Path, rows: int, prefix: str = "k") -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            out.write(
                f"{prefix}{i},2026-0{1 + i % 9}-1{i % 9}T12:00:00Z,{5 + i % 50}.00,EUR,d{i % 20000}@example.org,,false\n"
            )
    return path


def ledger_state(path: Path) -> tuple[int, dict[str, list[tuple[object, ...]]]]:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count = db.execute("SELECT count(*) FROM donations").fetchone()[0]
        tables = ("donor_months", "donors", "month_stats", "month_totals")
        return count, {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}


def recomputed(path: Path, config: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = 'stale' WHERE key = 'rollups'")
    assert donorbot(config, "stats").returncode == 0  # rebuilds on open
    return ledger_state(path)[1]


def test_kill_9_during_a_large_import_leaves_a_consistent_ledger_and_a_rerun_completes_it(
    tmp_path: Path,
) -> None:
    config = project(tmp_path)
    csv = big_csv(tmp_path / "big.csv", 150_000)
    ledger = tmp_path / "data" / "donorbot.sqlite3"
    assert (
        donorbot(config, "import", "csv", str(big_csv(tmp_path / "first.csv", 10, prefix="first"))).returncode
        == 0
    )

    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "import", "csv", str(csv)],
        env={**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wal = Path(f"{ledger}-wal")
    deadline = time.monotonic() + 120
    while (not wal.exists() or wal.stat().st_size < 2_000_000) and proc.poll() is None:  # rows are going in
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert proc.poll() is None, "the import finished before it could be interrupted: make the file larger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    count, rollups = ledger_state(ledger)
    assert count == 10, "the interrupted import left nothing behind: it was one transaction"
    # 150,000 rows into 10: the bulk route, which drops the indexes inside the transaction.
    assert index_sql(ledger) == DONATION_INDEXES, "the dropped indexes came back with the rollback"
    assert rollups == recomputed(ledger, config)

    rerun = donorbot(config, "import", "csv", str(csv))
    assert rerun.returncode == 0, rerun.stderr
    count, rollups = ledger_state(ledger)
    assert count == 150_010, "every donation exactly once"
    assert rollups == recomputed(ledger, config)
    again = donorbot(config, "import", "csv", str(csv))
    assert again.returncode == 0 and ledger_state(ledger)[0] == 150_010


@contextlib.contextmanager
def write_lock(path: Path, seconds: float) -> Iterator[None]:
    """Another process's write transaction, held for ``seconds``."""
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(float(sys.argv[2]))\n"
            "db.execute('ROLLBACK')\n",
            str(path), str(seconds),
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    try:
        yield
    finally:
        holder.wait(60)


def test_a_locked_ledger_is_waited_for_then_a_clear_error_nothing_half_written(tmp_path: Path) -> None:
    config = project(tmp_path)
    ledger = tmp_path / "data" / "donorbot.sqlite3"
    csv = big_csv(tmp_path / "d.csv", 50)
    assert donorbot(config, "stats").returncode == 0

    with write_lock(ledger, 2):
        waited = donorbot(config, "import", "csv", str(csv))
    assert waited.returncode == 0, waited.stderr
    assert ledger_state(ledger)[0] == 50

    more = big_csv(tmp_path / "more.csv", 60)
    with write_lock(ledger, 14):  # longer than the 10 s the ledger waits
        refused = donorbot(config, "import", "csv", str(more))
    assert refused.returncode == 1
    assert "locked" in refused.stderr and "another process" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert ledger_state(ledger)[0] == 50, "nothing of the refused import was stored"


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for chattr and mount (CI runs as root: skipping there fails)")


def test_a_read_only_ledger_gives_a_clear_error(tmp_path: Path) -> None:
    need_root()
    config = project(tmp_path)
    ledger = tmp_path / "data" / "donorbot.sqlite3"
    assert donorbot(config, "import", "csv", str(big_csv(tmp_path / "a.csv", 5))).returncode == 0
    subprocess.run(["chattr", "+i", str(ledger)], check=True)
    try:
        done = donorbot(config, "import", "csv", str(big_csv(tmp_path / "b.csv", 8)))
    finally:
        subprocess.run(["chattr", "-i", str(ledger)], check=True)
    assert done.returncode != 0
    assert "read-only" in done.stderr or "readonly" in done.stderr or "permission" in done.stderr.lower()
    assert "Traceback" not in done.stderr, done.stderr
    assert ledger_state(ledger)[0] == 5


def test_a_full_disk_gives_a_clear_error_and_the_ledger_stays_whole(tmp_path: Path) -> None:
    need_root()
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(small)], check=True)
    try:
        config = project(tmp_path / "conf", data=small)
        ledger = small / "donorbot.sqlite3"
        assert donorbot(config, "import", "csv", str(big_csv(tmp_path / "a.csv", 100))).returncode == 0
        done = donorbot(config, "import", "csv", str(big_csv(tmp_path / "huge.csv", 60_000)))
        assert done.returncode == 1
        assert "disk is full" in done.stderr or "no space" in done.stderr.lower(), done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert ledger_state(ledger)[0] == 100, "the failed import stored nothing"
        again = donorbot(config, "import", "csv", str(big_csv(tmp_path / "b.csv", 10)))
        assert again.returncode == 0, "the ledger still works once there is room"
    finally:
        threading.Event().wait(0.1)
        subprocess.run(["umount", "-l", str(small)], check=False)
