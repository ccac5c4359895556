"""A file of one enormous line, refused in bounded memory: ``python -m bench.long_line``.

Writes, in a temporary folder (deleted at the end), a CSV whose header is followed by one
line of ``--size`` bytes (1 GiB by default, written a MiB at a time, at most 4 GiB), then
runs ``donorbot import PLATFORM`` on it for each platform and prints the time, the peak
RSS of the import process and the first line of its error. Each import must fail naming
the file and line 2, without reading the line whole: its peak RSS stays that of an
ordinary import, whatever the size. Figures are recorded in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.__main__ import _MEASURE, KEY, config_file, machine

HEADERS = {
    "csv": "id,date,amount,currency",
    "paypal": "Date,Time,TimeZone,Name,Type,Status,Currency,Gross,Transaction ID",
    "kofi": "DateTime (UTC),From,Message,Item,Received,Given,Currency,TransactionType,TransactionId",
    "opencollective": "datetime,shortId,shortGroup,description,type,kind,isRefund,isRefunded,"
    "shortRefundId,displayAmount,amount,paymentProcessorFee,netAmount,currency,oppositeAccountSlug,"
    "oppositeAccountName",
}
MAX_SIZE = 4 << 30


def write(path: Path, header: str, size: int) -> None:
    block = b"a" * (1 << 20)
    with path.open("wb") as out:
        out.write(header.encode() + b"\n")
        left = size
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)
        out.write(b"\n")


def run(command: list[str], env: dict[str, str]) -> tuple[int, float, float, str]:
    """Exit code, seconds, peak RSS (MB) and the last error line of ``command``."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], env=env, capture_output=True, text=True, timeout=600
    )
    code, took, peak = done.stdout.split()
    errors = [line for line in done.stderr.splitlines() if ":2: " in line]
    return int(code), float(took), int(peak) / 1024, next(iter(errors), done.stderr[-200:])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.long_line", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1 << 30, help="bytes of the long line (default 1 GiB)")
    parser.add_argument("--platforms", nargs="*", default=sorted(HEADERS), choices=sorted(HEADERS))
    args = parser.parse_args()
    size = min(max(args.size, 1 << 20), MAX_SIZE)
    folder = Path(tempfile.mkdtemp(prefix="donorbot-long-line-"))
    env = {**os.environ, "BENCH_KEY": KEY}
    try:
        if shutil.disk_usage(folder).free < size * 2:
            print(f"not enough free disk in {folder} for a {size:,}-byte file", file=sys.stderr)
            return 1
        print(f"machine: {machine()}")
        print(f"| import of a {size / (1 << 30):.2f} GiB single-line file | exit | time | peak RSS | error |")
        print("| --- | --- | --- | --- | --- |")
        for platform in args.platforms:
            path = folder / f"{platform}.csv"
            write(path, HEADERS[platform], size)
            config = config_file(folder / platform, folder / platform / "ledger.sqlite3")
            code, took, rss, error = run(
                [sys.executable, "-m", "bot", "--config", str(config), "import", platform, str(path)], env
            )
            shown = error.replace(str(folder) + "/", "")[:100]
            print(
                f"| `donorbot import {platform}` | {code} | {took:.2f} s | {rss:.0f} MB | {shown} |",
                flush=True,
            )
            path.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
