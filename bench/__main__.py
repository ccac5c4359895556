"""donorbot's benchmarks: ``python -m bench`` (from the project root, in its virtualenv).

Builds the synthetic ledgers once (cached in bench/.data/), runs every benchmark and
prints a table: median, p99 and peak RSS, plus the sqlite3 shell's ``.import`` of the
same CSV as the import baseline. Nothing here is a pass/fail test: these are figures,
recorded in bench/README.md.

    python -m bench                 # everything: 1M and 10M ledgers, imports, run start-up
    python -m bench --quick         # 100k and 1M ledgers, 100k-row imports (minutes)
    python -m bench --imports-only  # the import benchmarks alone
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.ledgers import LAST, build_ledger, write_csv

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
KEY = "bench-pseudonym-key-0123456789abcdef"


def human(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def config_file(folder: Path, ledger: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f'[project]\nname = "Bench"\ntimezone = "Europe/Paris"\nbase_currency = "EUR"\n'
        f'data_dir = "{folder}"\nrates = {{ USD = 0.92 }}\n'
        f'[ledger]\npath = "{ledger}"\npseudonym_key_env = "BENCH_KEY"\n'
        '[[goals]]\nname = "g"\ntitle = "Goal"\namount = 5000000\nstart = 2026-01-01\nend = 2026-12-31\n'
        f"{extra}",
        encoding="utf-8",
    )
    return path


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    await fn()  # warm the page cache and the statement cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, name: str, median: str, worst: str, rss: str = "", target: str = "") -> None:
        self.rows.append((name, median, worst, rss, target))
        print(f"  {name}: median {median}, p99 {worst}, peak RSS {rss or '-'}", flush=True)

    def markdown(self) -> str:
        lines = ["| Benchmark | Median | p99 | Peak RSS | Target |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {a} | {b} | {c} | {d or '-'} | {e or '-'} |" for a, b, c, d, e in self.rows]
        return "\n".join(lines)


async def ledger_benchmarks(table: Table, ledger: Path, size: int, runs: int) -> None:
    from bot.chat.commands import CommandService, Invocation
    from bot.config import load_config
    from bot.core import Core

    os.environ["BENCH_KEY"] = KEY
    folder = Path(tempfile.mkdtemp(prefix="donorbot-bench-"))
    config = load_config(config_file(folder, ledger))
    core = await Core.open(config)
    try:
        label = human(size)
        last, middle = LAST, LAST.shift(-30)

        times = await timed(lambda: core.report(last), runs)
        times += await timed(lambda: core.report(middle), runs)
        table.add(f"month report, {label} donations", f"{statistics.median(times):.1f} ms",
                  f"{p99(times):.1f} ms", target="< 50 ms")  # fmt: skip

        async def all_time() -> Any:
            report = await core.report(last, list_limit=0)
            return report.all_time_donors, report.all_time_repeat_donors, report.all_time_total_base

        times = await timed(all_time, runs)
        table.add(f"all-time figures (donors ever, more than once, total), {label}",
                  f"{statistics.median(times):.1f} ms", f"{p99(times):.1f} ms", target="< 50 ms")  # fmt: skip

        times = await timed(core.milestones_reached, runs)
        table.add(f"milestones reached (all history), {label}", f"{statistics.median(times):.1f} ms",
                  f"{p99(times):.1f} ms")  # fmt: skip

        service = CommandService(core)
        times = await timed(lambda: service.handle(Invocation("donors")), max(runs, 100))
        table.add(f"/donors reply, {label}", f"{statistics.median(times):.1f} ms", f"{p99(times):.1f} ms",
                  target="p99 < 100 ms")  # fmt: skip

        if size == max(SIZES):
            times = await timed(lambda: core.bulletin(last, "en"), 10)
            table.add(f"bulletin render (template + chart), {label}", f"{statistics.median(times):.0f} ms",
                      f"{p99(times):.0f} ms", target="< 1 s")  # fmt: skip
    finally:
        await core.close()
        shutil.rmtree(folder, ignore_errors=True)


# Runs a command and prints its time and peak RSS. The peak must be measured from a small
# process: a child forked from this one (hundreds of MB by then) inherits its high-water mark.
_MEASURE = (
    "import resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "took = time.perf_counter() - started\n"
    "sys.stderr.write(done.stderr[-2000:])\n"
    "print(done.returncode, took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``command``; raises if it fails."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], env=env, capture_output=True, text=True)
    code, took, peak = done.stdout.split()
    if code != "0":
        raise RuntimeError(f"{' '.join(command[2:])} failed: {done.stderr}")
    return float(took), int(peak) / 1024


def import_benchmarks(table: Table, rows: int, big: int | None, runs: int = 3) -> None:
    csv = write_csv(DATA / f"import-{human(rows)}.csv", rows)
    folder = Path(tempfile.mkdtemp(prefix="donorbot-import-"))
    env = {**os.environ, "BENCH_KEY": KEY}
    try:
        # The baseline: the sqlite3 shell loading the same file into a bare table. Each side
        # runs ``runs`` times into a new file, alternating; medians are compared.
        shell = shutil.which("sqlite3")
        baselines: list[float] = []
        imports: list[float] = []
        peak = 0.0
        for run in range(runs):
            if shell:
                started = time.perf_counter()
                plain = folder / f"plain-{run}.db"
                subprocess.run([shell, str(plain), ".mode csv", f".import {csv} t"], check=True)
                baselines.append(time.perf_counter() - started)
                plain.unlink()
            config = config_file(folder / f"one-{run}", folder / f"one-{run}" / "ledger.sqlite3")
            took, rss = measured(
                [sys.executable, "-m", "bot", "--config", str(config), "import", "csv", str(csv)], env
            )
            imports.append(took)
            peak = max(peak, rss)
            shutil.rmtree(folder / f"one-{run}")
        took = statistics.median(imports)
        baseline = statistics.median(baselines) if baselines else None
        ratio = f" ({took / baseline:.1f}x the sqlite3 shell's .import: {baseline:.1f} s)" if baseline else ""
        table.add(f"import {human(rows)} native CSV rows (whole command, median of {runs}){ratio}",
                  f"{took:.1f} s", f"{max(imports):.1f} s (max)", f"{peak:.0f} MB",
                  target="< 3x .import")  # fmt: skip
        if big:
            csv_big = write_csv(DATA / f"import-{human(big)}.csv", big)
            config = config_file(folder / "big", folder / "big" / "ledger.sqlite3")
            took, rss = measured(
                [sys.executable, "-m", "bot", "--config", str(config), "import", "csv", str(csv_big)], env
            )
            table.add(f"import {human(big)} native CSV rows, streamed", f"{took:.0f} s",
                      f"{big / took:,.0f} rows/s", f"{rss:.0f} MB", target="RSS < 300 MB")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_benchmark(table: Table, ledger: Path, size: int) -> None:
    """``donorbot run`` on the big ledger with console, Discord and Matrix targets: time to ready, idle RSS."""
    folder = Path(tempfile.mkdtemp(prefix="donorbot-run-"))
    extra = (
        '[webhooks]\nport = 0\n[webhooks.kofi]\nsecret_env = "BENCH_KOFI"\n'
        # Chat servers that refuse connections at once: the adapters retry in the background,
        # which is what start-up must not wait for.
        '[discord]\ntoken_env = "BENCH_DISCORD"\napi_base = "http://127.0.0.1:9/api/v10"\n'
        '[matrix]\nhomeserver = "http://127.0.0.1:9"\nuser_id = "@bot:bench.test"\naccess_token_env = "BENCH_MATRIX"\n'
        '[[targets]]\nname = "console"\nplatform = "console"\nalerts = true\n'
        '[[targets]]\nname = "discord"\nplatform = "discord"\nchannel_id = 1\nalerts = true\n'
        '[[targets]]\nname = "matrix"\nplatform = "matrix"\nroom = "!room:bench.test"\nalerts = true\n'
    )
    config = config_file(folder, ledger, extra)
    env = {**os.environ, "BENCH_KEY": KEY, "BENCH_KOFI": "k", "BENCH_DISCORD": "d", "BENCH_MATRIX": "m"}
    readies, rss = [], []
    try:
        for _ in range(3):
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(config), "run"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "running" not in line:
                proc.kill()
                raise RuntimeError(f"donorbot run did not start: {line!r}")
            readies.append(time.perf_counter() - started)
            time.sleep(5)  # idle: adapters retrying, the catch-up done
            status = Path(f"/proc/{proc.pid}/status").read_text()
            rss.append(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024)  # type: ignore[union-attr]
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        table.add(f"donorbot run: ready (process start included), {human(size)}",
                  f"{statistics.median(readies):.2f} s", f"{max(readies):.2f} s",
                  f"{max(rss):.0f} MB idle peak", target="< 3 s, RSS < 150 MB")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


SIZES = [1_000_000, 10_000_000]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM; Linux {platform.release()}; "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}"
    )


def main() -> int:
    global SIZES
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k and 1M ledgers, 100k-row imports")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per benchmark (default 30)")
    parser.add_argument("--skip-big-import", action="store_true", help="skip the 10M-row import")
    parser.add_argument("--imports-only", action="store_true", help="only the import benchmarks")
    args = parser.parse_args()
    if args.quick:
        SIZES = [100_000, 1_000_000]
    table = Table()
    print(machine(), flush=True)
    for size in [] if args.imports_only else SIZES:
        path = DATA / f"ledger-{human(size).lower()}.sqlite3"
        print(f"ledger of {human(size)} donations: {path}", flush=True)
        took = build_ledger(path, size)
        if took:
            print(f"  generated in {took:.0f} s", flush=True)
        asyncio.run(ledger_benchmarks(table, path, size, args.runs))
    rows = 100_000 if args.quick else 1_000_000
    big = None if (args.quick or args.skip_big_import) else 10_000_000
    import_benchmarks(table, rows, big)
    if not args.imports_only:
        run_benchmark(table, DATA / f"ledger-{human(max(SIZES)).lower()}.sqlite3", max(SIZES))
    print()
    print(table.markdown())
    print(f"\nBenchmark process peak RSS: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
