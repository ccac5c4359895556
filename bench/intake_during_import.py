"""Webhook intake latency while a 1M-row import holds the ledger's write lock.

Starts ``donorbot serve`` (its own process) on an empty ledger, starts ``donorbot import
csv`` of a 1M-row native CSV (another process: it holds the write lock for most of its run),
and sends signed Ko-fi deliveries open-loop at ``--rate`` per second from the import's
start until it ends. Prints the answers (``stored`` when the ledger took it at once,
``queued`` when it was spooled and drained later), latency p50/p99/max, the import's own
time, and checks that every delivery is in the ledger once the spool has drained (and
that none was answered anything but 200). Nothing leaves 127.0.0.1.

    python -m bench.intake_during_import                 # 1M rows, 20 deliveries/s
    python -m bench.intake_during_import --rows 200000   # a short try
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench.ledgers import write_csv
from bench.webhook_load import KEY, KOFI_TOKEN, ROOT, _kofi, percentile, start_server, stop_server

__all__ = ["main"]

DATA = Path(__file__).resolve().parent / ".data"


async def _send(
    base: str, rate: float, importing: subprocess.Popen[bytes]
) -> list[tuple[str, int, str, float]]:
    """Deliveries at ``rate``/s while the import runs (and 2 s more): (id, status, answer, seconds)."""
    answers: list[tuple[str, int, str, float]] = []
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def one(n: int) -> None:
            external_id = f"bench-{n}"
            path, body, headers = _kofi(external_id, KOFI_TOKEN, n)
            started = time.perf_counter()
            async with session.post(path, data=body, headers=headers) as response:
                payload = await response.json(content_type=None)
                answers.append(
                    (external_id, response.status, str(payload.get("status")), time.perf_counter() - started)
                )

        start = time.perf_counter()
        ended: float | None = None
        n = 0
        while ended is None or time.perf_counter() < ended + 2:
            if ended is None and importing.poll() is not None:
                ended = time.perf_counter()
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(n)))
            n += 1
            if n > rate * 600:
                break  # ten minutes at most
        await asyncio.gather(*tasks)
    return answers


def _stored(ledger: Path) -> set[str]:
    with sqlite3.connect(ledger) as db:
        return {r[0] for r in db.execute("SELECT external_id FROM donations WHERE source = 'kofi'")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the import (default 1M)")
    parser.add_argument("--rate", type=float, default=20.0, help="deliveries per second (default 20)")
    args = parser.parse_args(argv)
    if not 1000 <= args.rows <= 10_000_000 or not 0 < args.rate <= 500:
        parser.error("--rows must be in [1000, 10M] and --rate in (0, 500]")
    csv = write_csv(DATA / f"import-{args.rows}.csv", args.rows)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="donorbot-intake-") as tmp:
        folder = Path(tmp)
        server, base = start_server(folder)
        try:
            env = {**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY, "PYTHONPATH": str(ROOT)}
            began = time.perf_counter()
            importing = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(folder / "config.toml"), "import", "csv", str(csv)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            )  # fmt: skip
            answers = asyncio.run(_send(base, args.rate, importing))
            import_code = importing.wait()
            import_seconds = time.perf_counter() - began
            ledger = folder / "donorbot.sqlite3"
            sent = {a[0] for a in answers}
            drained_at = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if sent <= _stored(ledger):
                    drained_at = time.perf_counter() - began
                    break
                time.sleep(0.2)
        finally:
            code = stop_server(server)
        missing = sent - _stored(ledger)
    statuses = Counter((a[1], a[2]) for a in answers)
    latencies = [a[3] for a in answers]
    print(f"import of {args.rows:,} rows: {import_seconds:.1f} s (exit {import_code})")
    print(f"deliveries: {len(answers)} at {args.rate:.0f}/s; answers: " + ", ".join(
        f"{status} {word}: {n}" for (status, word), n in sorted(statuses.items())))  # fmt: skip
    print(
        f"latency ms: p50 {1000 * percentile(latencies, 0.5):.1f}, p99 {1000 * percentile(latencies, 0.99):.1f},"
        f" max {1000 * max(latencies):.1f}"
    )
    print(
        f"all in the ledger {drained_at:.1f} s after the import started" if drained_at else "not all drained"
    )
    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if import_code != 0:
        failures.append(f"the import exited with {import_code}")
    if any(a[1] != 200 for a in answers):
        failures.append("a delivery was answered something else than 200")
    if missing:
        failures.append(f"{len(missing)} deliveries answered 200 are not in the ledger")
    if code != 0:
        failures.append(f"donorbot serve exited with {code} on SIGTERM")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
