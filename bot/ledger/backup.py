"""Online backups of the ledger with SQLite's backup API.

The copy is consistent (one snapshot of the database) even while another process
writes: SQLite restarts the copy of pages changed under it. The copy is written to a
temporary file next to the destination, checked (``PRAGMA integrity_check``), then
renamed into place, so a failed backup never leaves a half-written file under the
destination's name. The rows of every table are counted in the source's snapshot
(inside the read transaction the copy is made from) and in the copy: they must agree
before the backup is called good. The source is opened through a quoted ``file:`` URI
(a path may hold ``#``, ``?`` or ``%``), read-only, and ``immutable`` on a read-only
medium.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import NamedTuple

from bot.files import create_private_file, private_dir
from bot.ledger.health import access_mode, empty_file_problem, read_uri

__all__ = ["BackupError", "Copied", "backup"]

PAGES_PER_STEP = 4096  # ~16 MB at a time: a writer waits at most one step for the lock


class BackupError(Exception):
    """The backup could not be made; the message says why."""


def backup(source: Path, destination: Path) -> Copied:
    """Copy the ledger at ``source`` to ``destination``; returns its size and row counts."""
    if not source.exists():
        raise BackupError(f"{source}: no ledger there")
    if destination.resolve() == source.resolve():
        raise BackupError(f"{destination}: that is the ledger itself")
    if not destination.parent.exists():
        private_dir(destination.parent)
    partial = destination.with_name(f".{destination.name}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    if problem := empty_file_problem(source):
        raise BackupError(problem)
    mode = access_mode(source)
    try:
        # A copy of the ledger is donors' data: 0600 from its first byte, whatever the umask.
        create_private_file(partial)
        src = sqlite3.connect(read_uri(source, "ro" if mode == "rw" else mode), uri=True, timeout=30)
        try:
            src.execute("PRAGMA secure_delete = ON")  # set on every ledger connection
            # One read transaction: the counts and the copy see the same snapshot.
            src.execute("BEGIN")
            counts = _counts(src)
            dst = sqlite3.connect(partial)
            try:
                dst.execute("PRAGMA secure_delete = ON")
                src.backup(dst, pages=PAGES_PER_STEP)
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
                problems = dst.execute("PRAGMA integrity_check").fetchall()
                if problems != [("ok",)]:
                    raise BackupError(f"the copy failed its integrity check: {problems[:3]}")
                copied = _counts(dst)
                if copied != counts:
                    wrong = sorted(t for t in counts.keys() | copied.keys() if counts.get(t) != copied.get(t))
                    raise BackupError(
                        f"the copy's rows differ from the ledger's in {', '.join(wrong)}: "
                        + ", ".join(f"{t} {counts.get(t)} -> {copied.get(t)}" for t in wrong)
                    )
            finally:
                dst.close()
        finally:
            src.close()
        os.chmod(partial, 0o600)  # donors' data: the owner only, whatever the umask
        os.replace(partial, destination)
    except sqlite3.Error as exc:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise BackupError(f"cannot back up {source} to {destination}: {exc}") from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return Copied(destination.stat().st_size, counts)


class Copied(NamedTuple):
    """A finished backup: its size in bytes and the rows of each table (equal in both files)."""

    size: int
    rows: dict[str, int]


def _counts(db: sqlite3.Connection) -> dict[str, int]:
    tables = [
        name
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {t: int(db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
