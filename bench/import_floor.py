"""What a native CSV import cannot go below, step by step: ``python -m bench.import_floor``.

The import target compares ``donorbot import csv`` with the sqlite3 shell's ``.import``
of the same file into a bare table. This measures, on the same 1M-row file, the parts
of an import that no amount of Python tuning removes: the csv module reading the file,
SQLite storing rows that are already parsed, validated and pseudonymised (bound from
Python, as any Python program must), building the indexes the commands need, rebuilding
the rollups the reports need, and committing. Each is timed alone; their sum is a floor
for an import that leaves the ledger as donorbot needs it.

    python -m bench.import_floor              # 1M rows (the file python -m bench uses)
    python -m bench.import_floor --rows 100000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.ledgers import write_csv
from bot.ledger.migrations import DONATION_INDEXES
from bot.ledger.models import NewDonation
from bot.ledger.rollups import CLEAR_ROLLUPS, REBUILD
from bot.ledger.store import _INSERT, Ledger
from bot.sources.base import Parsed
from bot.sources.native_csv import NativeCsvImporter

HERE = Path(__file__).resolve().parent
KEY = b"bench-pseudonym-key-0123456789abcdef"
TZ = ZoneInfo("Europe/Paris")


def shell_import(path: Path, folder: Path) -> float | None:
    shell = shutil.which("sqlite3")
    if shell is None:
        return None
    target = folder / "plain.db"
    started = time.perf_counter()
    subprocess.run([shell, str(target), ".mode csv", f".import {path} t"], check=True)
    took = time.perf_counter() - started
    target.unlink()
    return took


def csv_module(path: Path) -> float:
    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as handle:
        for _ in csv.reader(handle):
            pass
    return time.perf_counter() - started


async def sqlite_steps(path: Path, folder: Path) -> dict[str, float]:
    ledger = await Ledger.open(folder / "ledger.sqlite3", TZ, KEY)
    try:
        # The rows as the ledger stores them; not timed (this is the Python side).
        rows = [
            ledger._row(row.item)
            for row in NativeCsvImporter().rows(path, TZ)
            if isinstance(row, Parsed) and isinstance(row.item, NewDonation)
        ]
        steps: dict[str, float] = {}
        gc.collect()
        async with ledger.writing() as db:
            for name in DONATION_INDEXES:
                await db.execute(f"DROP INDEX {name}")
            started = time.perf_counter()
            for first in range(0, len(rows), 20_000):
                await db.executemany(_INSERT, rows[first : first + 20_000])
            steps["store parsed rows (executemany, unique index only)"] = time.perf_counter() - started
            started = time.perf_counter()
            for statement in DONATION_INDEXES.values():
                await db.execute(statement)
            steps["build the three secondary indexes"] = time.perf_counter() - started
            started = time.perf_counter()
            for statement in (*CLEAR_ROLLUPS, *REBUILD):
                await db.execute(statement)
            steps["rebuild the rollups"] = time.perf_counter() - started
            started = time.perf_counter()
        steps["commit"] = time.perf_counter() - started
        return steps
    finally:
        await ledger.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_floor", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    label = f"{args.rows // 1_000_000}M" if args.rows >= 1_000_000 else f"{args.rows // 1000}k"
    path = write_csv(HERE / ".data" / f"import-{label}.csv", args.rows)
    folder = Path(tempfile.mkdtemp(prefix="donorbot-floor-"))
    try:
        shell = [t for t in (shell_import(path, folder) for _ in range(args.runs)) if t is not None]
        reading = [csv_module(path) for _ in range(args.runs)]
        runs: list[dict[str, float]] = []
        for run in range(args.runs):
            work = folder / f"run-{run}"
            work.mkdir()
            runs.append(asyncio.run(sqlite_steps(path, work)))
            shutil.rmtree(work)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    lines: list[tuple[str, float]] = [("csv module reading the file", statistics.median(reading))]
    lines += [(step, statistics.median(run[step] for run in runs)) for step in runs[0]]
    floor = sum(took for _, took in lines)
    baseline = statistics.median(shell) if shell else None
    print(f"{args.rows:,} rows, medians of {args.runs} runs")
    if baseline is not None:
        print(
            f"  {'sqlite3 shell .import into a bare table':<52}{baseline:6.2f} s   (3x = {3 * baseline:.2f} s)"
        )
    for step, took in lines:
        print(f"  {step:<52}{took:6.2f} s")
    ratio = f"   = {floor / baseline:.1f}x .import" if baseline else ""
    print(f"  {'floor (sum)':<52}{floor:6.2f} s{ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
