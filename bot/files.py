"""Files that hold donors' data are the owner's alone: 0600 files in 0700 folders.

donorbot sets the process umask to 077 when it starts (:func:`private_umask`), so
whatever it or a library creates (SQLite's ``-wal`` and ``-shm``, matrix-nio's
store, a spool) is private; the helpers here also set the modes explicitly where
files are created, and bring back files and folders that an older version, a copy
or a restore left readable by others, saying what they changed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "SQLITE_SIDE_FILES",
    "create_private_file",
    "looser",
    "make_private",
    "private_dir",
    "private_tree",
    "private_umask",
    "sqlite_files",
]

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_umask() -> int:
    """Make everything this process creates private (umask 077); returns the previous umask."""
    return os.umask(0o077)


def looser(path: Path) -> int | None:
    """The permission bits of ``path`` if group or others have any (None: private, or absent)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None


def make_private(path: Path) -> str | None:
    """Take group's and others' access away from ``path``; returns what changed, for the log."""
    mode = looser(path)
    if mode is None:
        return None
    # The owner keeps what they had (an executable stays one); group and others lose everything.
    wanted = PRIVATE_DIR if path.is_dir() else mode & 0o700
    try:
        path.chmod(wanted)
    except OSError as exc:
        return f"{path}: is {mode:04o} (readable by others) and cannot be changed: {exc.strerror or exc}"
    return f"{path}: permissions were {mode:04o}, now {wanted:04o} (donors' data is the owner's alone)"


def private_dir(path: Path) -> list[str]:
    """Create ``path`` (and missing parents) as 0700, or make an existing one 0700; returns changes."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    for created in missing:  # mkdir's parents=True gives parents the umask's mode, not ``mode``
        with contextlib.suppress(OSError):
            created.chmod(PRIVATE_DIR)
    change = make_private(path)
    return [change] if change else []


def create_private_file(path: Path) -> None:
    """Create ``path`` empty as 0600 if it does not exist (so that what opens it next keeps that mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))


def sqlite_files(path: Path) -> list[Path]:
    """A SQLite database and the side files beside it that exist."""
    return [p for p in (path, *(path.with_name(path.name + s) for s in SQLITE_SIDE_FILES)) if p.exists()]


def private_tree(root: Path, files: Iterable[Path] = ()) -> list[str]:
    """Make ``root``, every folder and file under it, and ``files``, private; returns changes."""
    changes = []
    for path in (root, *sorted(root.rglob("*")), *files) if root.exists() else files:
        if path.is_symlink():
            continue  # a link's target may be anyone's: never chmod through it
        change = make_private(path)
        if change:
            changes.append(change)
    return changes
