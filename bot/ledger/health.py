"""Is the ledger file sound, is it still the one we opened, and may we write to it?

- A damaged file (``PRAGMA quick_check`` fails, or SQLite says it is not a
  database) is refused with a message naming the file and how to restore a backup.
  ``quick_check`` reads every page, so it runs when the ledger is opened up to
  :data:`QUICK_CHECK_AT_OPEN` bytes; a larger ledger is checked in the background
  by the running service (a full check of 10M donations takes far longer than the
  service may take to start).
- A 0-byte file is refused: SQLite would take it for a new, empty ledger, and a
  bulletin saying "no donations" would follow. A ledger is never 0 bytes once created
  (its header is written with its schema); an empty file is a truncated ledger (a full
  disk, a failed copy) or a mistake. A path where no file exists is a new ledger.
- A file that was replaced or deleted while open (another inode at its path, or no
  file) is detected by :func:`moved`: the service stops taking webhooks and says why.
- A ledger on a read-only medium (file or folder not writable) is opened read-only
  (``mode=ro``; ``immutable=1`` when the folder is read-only and no WAL is left to
  read), so reading commands still work.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "QUICK_CHECK_AT_OPEN",
    "access_mode",
    "damaged",
    "empty_file_problem",
    "identity",
    "moved",
    "quick_check",
    "read_uri",
]

QUICK_CHECK_AT_OPEN = 128 * 1024 * 1024  # bytes; about 350,000 donations, well under a second to check


def damaged(path: Path, detail: str) -> str:
    """The message for a damaged ledger: what, where, and how to restore."""
    return (
        f"{path}: the ledger is damaged ({detail}). Stop donorbot, move this file (and any "
        f"{path.name}-wal, {path.name}-shm beside it) aside, then copy your latest backup to {path} "
        "and start again (README: Backups). Nothing was read from or written to it."
    )


def empty_file_problem(path: Path) -> str | None:
    """Why an existing 0-byte file cannot be opened as a ledger, or None."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None  # a new ledger
    if size == 0 and not Path(f"{path}-wal").exists():  # a -wal: another process is creating it
        return (
            f"{path}: the file is empty (0 bytes), which a ledger never is: it may have been truncated "
            "(a full disk, a failed copy). Restore your latest backup there (README: Backups), or delete "
            "the empty file to start a new ledger."
        )
    return None


def access_mode(path: Path) -> str:
    """``rw``, ``ro`` (the file is not writable) or ``immutable`` (nor is its folder)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not path.exists():
        return "rw"  # to be created (failing later, clearly, if the folder is not writable)
    if os.access(path, os.W_OK) and os.access(folder, os.W_OK):
        return "rw"
    if os.access(folder, os.W_OK):
        return "ro"
    wal = Path(f"{path}-wal")
    shm = Path(f"{path}-shm")
    if wal.exists() and wal.stat().st_size > 0 and shm.exists():
        return "ro"  # committed data may be in the WAL: read it through the existing -shm
    return "immutable"


def read_uri(path: Path, mode: str) -> str:
    """A ``file:`` URI for ``path`` (any character quoted: ``#``, ``?``, ``%``) opening it read-only."""
    absolute = os.path.abspath(path)
    base = "file:" + quote(absolute, safe="/")
    return base + ("?immutable=1" if mode == "immutable" else "?mode=ro")


def quick_check(db: sqlite3.Connection, path: Path) -> str | None:
    """The damage ``PRAGMA quick_check`` finds (the message to show), or None."""
    try:
        rows = db.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        return damaged(path, str(exc))
    if rows != [("ok",)]:
        return damaged(path, "; ".join(str(r[0]) for r in rows[:3]))
    return None


def identity(path: Path) -> tuple[int, int] | None:
    """The file's (device, inode), or None when there is no file."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def moved(path: Path, opened: tuple[int, int] | None) -> str | None:
    """Why the file at ``path`` is no longer the ledger opened as ``opened``, or None."""
    if opened is None:
        return None
    now = identity(path)
    if now is None:
        return f"{path}: the ledger file was deleted while donorbot had it open; restart to use a new one"
    if now != opened:
        return f"{path}: the ledger file was replaced while donorbot had it open; restart to use the new one"
    return None
