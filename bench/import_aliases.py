"""What aliases cost an import: an Open Collective export (each row a payment with aliases).

    python -m bench.import_aliases            # 100,000 rows
    python -m bench.import_aliases --rows 20000

Writes a synthetic older-format export (``datetime, shortId, shortGroup, …``; 3,000
contributors giving monthly), imports it into a fresh ledger through the import
pipeline, then imports it again (every row a duplicate, found by id), and prints both
times. Each row has its short id as external id and its group as an alias, so it takes
the ledger's set-based alias route rather than the plain fast path.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.store import Ledger
from bot.sources.opencollective import OpenCollectiveImporter
from bot.sources.pipeline import import_file

KEY = b"bench-pseudonym-key-0123456789abcdef"
HEADER = (
    '"datetime","shortId","shortGroup","description","type","kind","isRefund","isRefunded",'
    '"shortRefundId","amount","currency","oppositeAccountSlug","oppositeAccountName"\n'
)


def write_export(path: Path, rows: int) -> None:
    rnd = random.Random(20261201)
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            short, group = (uuid.UUID(int=rnd.getrandbits(128)).hex[:8] for _ in range(2))
            donor = i % 3000
            out.write(
                f'"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00","{short}","{group}",'
                f'"Monthly contribution from D{donor}","CREDIT","CONTRIBUTION","","","",5,"USD",'
                f'"donor-{donor}","D{donor}"\n'
            )


async def run(rows: int) -> None:
    utc = ZoneInfo("UTC")
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "transactions.csv"
        write_export(export, rows)
        async with await Ledger.open(Path(folder) / "ledger.sqlite3", utc, KEY) as ledger:
            start = time.perf_counter()
            first = await import_file(ledger, OpenCollectiveImporter(), export, utc)
            first_s = time.perf_counter() - start
            start = time.perf_counter()
            again = await import_file(ledger, OpenCollectiveImporter(), export, utc)
            again_s = time.perf_counter() - start
    print(f"Open Collective export, {rows:,} rows with aliases")
    print(f"  first import: {first_s:.2f} s ({rows / first_s:,.0f} rows/s), {first.imported:,} stored")
    print(
        f"  same file again: {again_s:.2f} s ({rows / again_s:,.0f} rows/s), {again.duplicates:,} duplicates"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    asyncio.run(run(parser.parse_args().rows))


if __name__ == "__main__":
    main()
