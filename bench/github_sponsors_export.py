"""A large GitHub Sponsors export, as CSV and as JSON: ``python -m bench.github_sponsors_export``.

Writes, in a temporary folder (deleted at the end), one sponsorable's all-time export of
``--sponsors`` sponsorships with ``--months`` monthly charges each (a tier change in every
tenth sponsorship, two lines under one Transaction ID), in both of GitHub's formats: the
CSV (a line per charge line) and the JSON (one line: an array of sponsorships). Then runs
``donorbot import github-sponsors`` on each into a fresh ledger and prints the time and the
peak RSS of the import process. The JSON file is decoded a sponsorship at a time; either
file is read twice (the lines of one Transaction ID may be anywhere in it: the first pass
keeps a few numbers per charge, the second stores the donations). Figures are recorded
in bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.__main__ import KEY, config_file, machine, measured

HEADER = (
    "Sponsor Handle,Sponsor Profile Name,Sponsor Public Email,Sponsorship Started On,Is Public?,Is Yearly?,"
    "Transaction ID,Payment Source,Tier Name,Tier Monthly Amount,Processed Amount,Is Prorated?,Status,"
    "Transaction Date,Metadata,Country,Region,VAT"
)
SPONSORSHIP_KEYS = ("sponsor_handle", "sponsor_profile_name", "sponsor_public_email", "sponsorship_started_on",
                    "is_public", "is_yearly")  # fmt: skip
TRANSACTION_KEYS = ("transaction_id", "payment_source", "tier_name", "tier_monthly_amount", "processed_amount",
                    "is_prorated", "status", "transaction_date", "metadata", "billing_country",
                    "billing_region", "vat")  # fmt: skip


def sponsorships(count: int, months: int) -> list[dict[str, object]]:
    start = datetime(2022, 1, 1, 12, tzinfo=UTC)
    out = []
    for n in range(count):
        began = start + timedelta(hours=n)
        transactions = []
        for m in range(months):
            when = (began + timedelta(days=30 * m)).isoformat(timespec="milliseconds")
            line = {
                "transaction_id": f"ch_{n:07d}{m:03d}",
                "tier_name": "$5 a month",
                "tier_monthly_amount": "$5.00",
                "processed_amount": "$5.00",
                "is_prorated": False,
                "status": "settled",
                "transaction_date": when,
                "billing_country": "USA",
                "billing_region": "Region",
                "vat": None,
            }
            transactions.append(line)
            if n % 10 == 0 and m == months // 2:  # a tier change: the new tier, the old one credited
                transactions[-1] = {**line, "tier_name": "$10 a month", "tier_monthly_amount": "$10.00",
                                    "processed_amount": "$7.50", "is_prorated": True}  # fmt: skip
                transactions.append({**line, "processed_amount": "$-2.50", "is_prorated": True})
        out.append(
            {
                "sponsor_handle": f"sponsor-{n}",
                "sponsor_profile_name": f"Sponsor {n}",
                "sponsor_public_email": None,
                "sponsorship_started_on": began.isoformat(timespec="milliseconds"),
                "is_public": n % 3 != 0,
                "is_yearly": False,
                "transactions": transactions,
                "payment_source": "github",
                "metadata": {},
            }
        )
    return out


def write_json(path: Path, data: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        json.dump(data, out, separators=(",", ":"))


def write_csv(path: Path, data: list[dict[str, object]]) -> None:
    def text(value: object) -> str:
        return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER.split(","))
        for s in data:
            head = [text(s[key]) for key in SPONSORSHIP_KEYS]
            for t in s["transactions"]:  # type: ignore[attr-defined]
                both = {**s, **t, "metadata": ""}
                writer.writerow(head + [text(both.get(key)) for key in TRANSACTION_KEYS])


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.github_sponsors_export", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sponsors", type=int, default=10_000, help="sponsorships (default 10,000)")
    parser.add_argument("--months", type=int, default=24, help="monthly charges each (default 24)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="donorbot-sponsors-"))
    env = {**os.environ, "BENCH_KEY": KEY}
    try:
        data = sponsorships(args.sponsors, args.months)
        lines = sum(len(s["transactions"]) for s in data)  # type: ignore[arg-type]
        print(f"machine: {machine()}")
        print(f"| {args.sponsors:,} sponsorships, {lines:,} charge lines | file | time | peak RSS |")
        print("| --- | --- | --- | --- |")
        for kind, writer in (("csv", write_csv), ("json", write_json)):
            path = folder / f"export.{kind}"
            writer(path, data)
            config = config_file(folder / kind, folder / kind / "ledger.sqlite3")
            took, rss = measured(
                [
                    sys.executable,
                    "-m",
                    "bot",
                    "--config",
                    str(config),
                    "import",
                    "github-sponsors",
                    str(path),
                ],
                env,
            )
            size = path.stat().st_size / (1 << 20)
            print(f"| `donorbot import github-sponsors` ({kind}) | {size:.0f} MB | {took:.1f} s | {rss:.0f} MB |",
                  flush=True)  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
