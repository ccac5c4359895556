"""Exactly once, through the ``donorbot`` command run as separate processes on one real ledger.

Two ``post`` started together, a failure that leaves a delivery owed (with its reason)
for the sweep, a disk that fills up while the chart is written, a closed standard
output, and a month that has not ended.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from outbox_support import TITLE, console_project, deliveries, donorbot, seed, spawn

OCTOBER = ("bulletin", 202610, "console")


def test_two_posts_started_together_print_the_bulletin_once(tmp_path: Path) -> None:
    config = console_project(tmp_path)
    seed(config)
    posts = [spawn(config, "post", "--month", "2026-10") for _ in range(3)]
    results = [(p.wait(180), *p.communicate()) for p in posts]

    printed = sum(out.count(TITLE) for _, out, _ in results)
    assert printed == 1, "one bulletin on the console, whichever process printed it"
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    said = sorted(line for _, out, _ in results for line in out.splitlines() if "-> console:" in line)
    assert [s.split(": ")[1].split(" (")[0] for s in said] == ["already sent", "already sent", "sent"], said
    assert len(list((tmp_path / "charts").glob("*.png"))) == 1
    assert deliveries(config)[OCTOBER][:2] == ("sent", 1)


def test_a_post_that_fails_leaves_the_bulletin_owed_with_its_reason_and_the_next_post_sends_the_rest(
    tmp_path: Path,
) -> None:
    config = console_project(tmp_path)
    seed(config)
    charts = tmp_path / "charts"
    charts.mkdir()
    charts.chmod(0o500)  # the chart cannot be written (a full disk looks the same from here)
    try:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(charts)], check=True)
        first = donorbot(config, "post", "--month", "2026-10")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(charts)], check=True)
        charts.chmod(0o700)
    assert first.returncode == 1, first.stderr
    assert first.stdout.count(TITLE) == 1, "the text was printed"
    assert "console: pending" in first.stdout and "chart could not be written" in first.stdout
    state, attempts, error = deliveries(config)[OCTOBER]
    assert state == "pending" and attempts == 1, "no retry in a loop: the next sweep tries again"
    assert error is not None and "chart could not be written" in error
    assert not list(charts.iterdir()), "no half-written picture left behind"

    status = donorbot(config, "status")
    assert "bulletin 2026-10: pending (attempts 1): the bulletin was printed but its chart" in status.stdout

    again = donorbot(config, "post", "--month", "2026-10")
    assert again.returncode == 0, again.stderr
    assert TITLE not in again.stdout, "the text part was done: only the chart is written now"
    assert "[chart: " in again.stdout and "console: sent" in again.stdout
    assert len(list(charts.glob("*.png"))) == 1
    assert deliveries(config)[OCTOBER][0] == "sent"


def test_a_full_disk_while_writing_the_chart_is_recorded_and_the_sweep_does_not_print_again(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small filesystem (CI runs as root: skipping there fails)")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        (small / "filler").write_bytes(b"\0" * 60_000)  # room for a few bytes of the chart, not all
        config = console_project(
            tmp_path / "p",
            targets=f'[[targets]]\nname = "console"\nplatform = "console"\noutput_dir = "{small}"\n',
        )
        seed(config)
        first = donorbot(config, "post", "--month", "2026-10")
        assert first.returncode == 1
        assert first.stdout.count(TITLE) == 1
        state, _, error = deliveries(config)[OCTOBER]
        assert state == "pending" and error is not None and "the disk is full" in error, error
        assert sorted(p.name for p in small.iterdir()) == ["filler"], "the half-written PNG was removed"

        retried = donorbot(config, "post", "--month", "2026-10")  # what the minute sweep does, too
        assert TITLE not in retried.stdout, "the text is never printed twice"
        assert retried.returncode == 1

        (small / "filler").unlink()
        done = donorbot(config, "post", "--month", "2026-10")
        assert done.returncode == 0 and TITLE not in done.stdout and "[chart: " in done.stdout
        assert deliveries(config)[OCTOBER][0] == "sent"
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_a_post_whose_output_is_closed_fails_and_stays_owed(tmp_path: Path) -> None:
    config = console_project(tmp_path)
    seed(config)
    read, write = os.pipe()
    os.close(read)  # nobody reads: printing the bulletin hits a broken pipe
    try:
        closed = donorbot(
            config, "post", "--month", "2026-10", capture_output=False, stdout=write, stderr=subprocess.PIPE
        )
    finally:
        os.close(write)
    assert closed.returncode == 1
    state, _, error = deliveries(config)[OCTOBER]
    assert state == "pending" and error is not None and "broken pipe" in error, error

    again = donorbot(config, "post", "--month", "2026-10")
    assert again.returncode == 0 and again.stdout.count(TITLE) == 1, again.stderr
    assert deliveries(config)[OCTOBER][0] == "sent"


def test_a_month_that_has_not_ended_is_refused_unless_asked_for(tmp_path: Path) -> None:
    config = console_project(tmp_path)
    seed(config)
    for month in ("2099-01",):
        refused = donorbot(config, "post", "--month", month)
        assert refused.returncode == 1
        assert "has not ended yet" in refused.stderr and "--unfinished" in refused.stderr, refused.stderr
        assert TITLE not in refused.stdout
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    now = datetime.now(UTC).astimezone(ZoneInfo("Europe/Paris"))
    current = f"{now.year}-{now.month:02d}"
    refused = donorbot(config, "post", "--month", current)
    assert refused.returncode == 1 and "has not ended yet" in refused.stderr
    assert deliveries(config) == {}, "nothing owed, nothing marked sent"

    asked = donorbot(config, "post", "--month", current, "--unfinished")
    assert asked.returncode == 0 and asked.stdout.count(TITLE) == 1, asked.stderr
