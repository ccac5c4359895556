"""Large imports take the bulk route and leave the same ledger as row-by-row writes would.

An import that brings at least as many donations as the ledger holds drops the
secondary indexes, inserts, builds them again and recomputes the rollups from
scratch, all in its one transaction. These tests run it through ``donorbot import``
on a real SQLite file, and check the indexes against the schema, the rollups against
a recomputation by the other route (the delta routine), and that a failure or a dry
run leaves the ledger as it was.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ledger_checks import index_sql, integrity, rollups, rollups_recomputed, snapshot
from test_core_cli import KEY, donorbot, project

from bot.ledger.migrations import DONATION_INDEXES
from bot.ledger.models import NewDonation
from bot.ledger.store import BULK_MIN_ROWS, Ledger

HEADER = "id,date,amount,currency,donor,name,public,recurring,kind,status\n"
START = datetime(2025, 1, 1, tzinfo=UTC)


def rows(count: int, *, first_id: int = 0, seed: int = 1, refunds_of: range = range(0)) -> list[str]:
    """Donations over 14 months: repeat and recurring donors, anonymous ones, public names,
    two currencies, organisations, some stored refunded, and refunds of ``refunds_of`` ids."""
    rng = random.Random(seed)
    out = []
    for n in range(first_id, first_id + count):
        donor = "" if rng.random() < 0.05 else f"donor{rng.randrange(count // 3)}"
        if donor and rng.random() < 0.2:
            donor += "@example.org"
        when = START + timedelta(minutes=rng.randrange(14 * 30 * 24 * 60))
        public = donor != "" and rng.random() < 0.1
        name = f"Name {n}" if public else ""
        kind = "organisation" if rng.random() < 0.03 else "person"
        status = "refunded" if rng.random() < 0.01 else "succeeded"
        out.append(
            f"x{n},{when:%Y-%m-%dT%H:%M:%SZ},{rng.choice(['5', '10.50', '20', '1000'])},"
            f"{rng.choice(['EUR', 'EUR', 'USD'])},{donor},{name},{str(public).lower()},"
            f"{str(rng.random() < 0.1).lower()},{kind},{status}"
        )
    for n in refunds_of:
        out.append(f"x{n},2025-01-01,5,EUR,,,false,false,person,refunded")
    return out


def write(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def check_whole(ledger: Path) -> None:
    assert integrity(ledger) == "ok"
    assert index_sql(ledger) == DONATION_INDEXES
    assert rollups(ledger) == rollups_recomputed(ledger)


def test_the_index_definitions_are_those_of_a_migrated_ledger(tmp_path: Path) -> None:
    async def body() -> None:
        ledger = await Ledger.open(tmp_path / "l.sqlite3", ZoneInfo("UTC"))
        await ledger.close()

    asyncio.run(body())
    assert index_sql(tmp_path / "l.sqlite3") == DONATION_INDEXES


def test_bulk_imports_leave_the_indexes_and_rollups_a_row_by_row_write_would(tmp_path: Path) -> None:
    config = project(tmp_path)
    ledger = tmp_path / "data" / "donorbot.sqlite3"
    first = BULK_MIN_ROWS + 2_000

    done = donorbot(config, "import", "csv", str(write(tmp_path / "a.csv", rows(first))))
    assert done.returncode == 0, done.stderr
    assert f"imported: {first}" in done.stdout
    check_whole(ledger)

    # Bigger than the ledger again: half of it already stored, refunds of earlier donations.
    again = rows(first + 1_000, first_id=first // 2, seed=2, refunds_of=range(0, 300, 3))
    done = donorbot(config, "import", "csv", str(write(tmp_path / "b.csv", again)))
    assert done.returncode == 0, done.stderr
    stored = {line.split(",")[0]: line.rsplit(",", 1)[1] for line in rows(first)}
    duplicates = sum(1 for line in again if line.split(",")[0] in stored)
    refunds = {line.split(",")[0] for line in again if line.endswith("refunded")}
    applied = sum(1 for i in refunds if stored.get(i) == "succeeded")
    assert duplicates == first - first // 2 + 100 and applied > 100
    assert f"duplicates (already in the ledger or twice in the file): {duplicates}" in done.stdout
    assert f"refunds applied: {applied}" in done.stdout
    check_whole(ledger)

    # A small import into the now larger ledger goes row by row; same result.
    done = donorbot(config, "import", "csv", str(write(tmp_path / "c.csv", rows(50, first_id=10**6, seed=3))))
    assert done.returncode == 0, done.stderr
    check_whole(ledger)
    with sqlite3.connect(ledger) as db:
        stored = db.execute("SELECT count(*) FROM donations").fetchone()[0]
    assert stored == first + (first + 1_000) - (first - first // 2) + 50


def test_a_failed_or_dry_bulk_import_leaves_the_ledger_untouched(tmp_path: Path) -> None:
    config = project(tmp_path)
    ledger = tmp_path / "data" / "donorbot.sqlite3"
    done = donorbot(config, "import", "csv", str(write(tmp_path / "a.csv", rows(200))))
    assert done.returncode == 0, done.stderr
    before = snapshot(ledger)

    bad = rows(BULK_MIN_ROWS + 500, first_id=1_000)
    bad.append("broken,2025-02-30,5,EUR,,,false,false,person,succeeded")
    done = donorbot(config, "import", "csv", str(write(tmp_path / "bad.csv", bad)))
    assert done.returncode == 1
    assert f":{len(bad) + 1}: date:" in done.stderr
    assert snapshot(ledger) == before
    check_whole(ledger)

    dry = write(tmp_path / "dry.csv", rows(BULK_MIN_ROWS + 500, first_id=1_000))
    done = donorbot(config, "import", "csv", "--dry-run", str(dry))
    assert done.returncode == 0, done.stderr
    assert f"would import: {BULK_MIN_ROWS + 500}" in done.stdout
    assert snapshot(ledger) == before
    check_whole(ledger)


def test_the_bulk_route_is_taken_only_when_the_write_outweighs_the_ledger(tmp_path: Path) -> None:
    def donation(n: int) -> NewDonation:
        return NewDonation(
            source="t", external_id=str(n), amount=100, currency="EUR",
            received_at=START + timedelta(minutes=n), donor_id=f"t:{n % 7}",  # all in the past
        )  # fmt: skip

    async def body() -> list[bool]:
        ledger = await Ledger.open(tmp_path / "l.sqlite3", ZoneInfo("Europe/Paris"), KEY.encode())
        taken = []
        try:
            for expected, count in ((5, 5), (BULK_MIN_ROWS, BULK_MIN_ROWS), (BULK_MIN_ROWS, 20)):
                async with ledger.batch(expected) as batch:
                    start = len(taken) * 100_000
                    await batch.add([donation(n) for n in range(start, start + count)])
                    taken.append(batch.bulk)
        finally:
            await ledger.close()
        return taken

    # Too small for the bulk route; as big as an empty-ish ledger; smaller than the ledger.
    assert asyncio.run(body()) == [False, True, False]
    check_whole(tmp_path / "l.sqlite3")


def test_a_long_import_on_a_terminal_shows_its_progress_and_its_last_phase(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    config = project(tmp_path)
    csv = write(tmp_path / "a.csv", rows(BULK_MIN_ROWS + 100))
    leader, follower = pty.openpty()
    env = {**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY, "COLUMNS": "120"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "import", "csv", str(csv)],
        stdout=subprocess.PIPE, stderr=follower, env=env, text=True,
    )  # fmt: skip
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0
    assert f"imported: {BULK_MIN_ROWS + 100}" in out
    screen = shown.decode("utf-8", "replace")
    assert "importing" in screen
    assert "building indexes and monthly figures" in screen
