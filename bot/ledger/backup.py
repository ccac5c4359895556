"""Online backups of the ledger with SQLite's backup API.

The copy is consistent (one snapshot of the database) even while another process
writes: SQLite restarts the copy of pages changed under it. The copy is written to a
temporary file next to the destination, checked (``PRAGMA integrity_check``), then
renamed into place, so a failed backup never leaves a half-written file under the
destination's name.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

__all__ = ["BackupError", "backup"]

PAGES_PER_STEP = 4096  # ~16 MB at a time: a writer waits at most one step for the lock


class BackupError(Exception):
    """The backup could not be made; the message says why."""


def backup(source: Path, destination: Path) -> int:
    """Copy the ledger at ``source`` to ``destination``; returns the copy's size in bytes."""
    if not source.exists():
        raise BackupError(f"{source}: no ledger there")
    if destination.resolve() == source.resolve():
        raise BackupError(f"{destination}: that is the ledger itself")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(partial)
            dst.execute("PRAGMA secure_delete = ON")
            try:
                src.backup(dst, pages=PAGES_PER_STEP)
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
                problems = dst.execute("PRAGMA integrity_check").fetchall()
                if problems != [("ok",)]:
                    raise BackupError(f"the copy failed its integrity check: {problems[:3]}")
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(partial, destination)
    except sqlite3.Error as exc:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise BackupError(f"cannot back up {source} to {destination}: {exc}") from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return destination.stat().st_size
