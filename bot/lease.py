"""One sender per ledger: the lease ``donorbot run`` holds on its ledger.

The lease is an exclusive ``flock`` on a lock file next to the ledger
(``donorbot.sqlite3.lock``). The kernel releases it when its process ends, however
it ends (``kill -9`` included), so a lease never outlives its holder and nothing
has to expire. The file says who holds it (pid, machine, since when) and where
its control socket listens: a second ``run`` names the holder and refuses to
start; ``post`` and ``forget`` find the socket to hand their work over
(:mod:`bot.control`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import socket
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["LeaseHeld", "LeaseInfo", "ServiceLease", "control_socket_path", "holder", "lock_path"]

SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on the BSDs


def lock_path(ledger: Path) -> Path:
    return ledger.with_name(ledger.name + ".lock")


def control_socket_path(data_dir: Path, ledger: Path) -> Path:
    """``DATA_DIR/donorbot.sock``, or a private folder of the temporary directory when that path is too long."""
    preferred = data_dir / "donorbot.sock"
    if len(os.fsencode(preferred)) <= SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(os.fsencode(ledger.resolve())).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"donorbot-{os.getuid()}" / f"{digest}.sock"


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """Who holds a ledger's lease."""

    pid: int
    host: str
    since: str  # ISO 8601, UTC
    socket: str | None  # the control socket, when it listens

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.since}"


class LeaseHeld(Exception):
    """Another ``donorbot run`` holds the ledger."""

    def __init__(self, ledger: Path, info: LeaseInfo | None) -> None:
        who = info.describe() if info is not None else "a process that has not said who it is yet"
        super().__init__(
            f"{ledger}: another `donorbot run` is already running on this ledger ({who}); one service sends "
            "for a ledger: stop that one first (`donorbot post` and `forget` hand their work to it)"
        )
        self.info = info


def _read(fd: int) -> LeaseInfo | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
        return LeaseInfo(int(data["pid"]), str(data["host"]), str(data["since"]), data.get("socket"))
    except (ValueError, TypeError, KeyError, OSError):
        return None


class ServiceLease:
    """The lease, held; :meth:`release` (or the end of the process) gives it back."""

    def __init__(self, path: Path, fd: int, info: LeaseInfo) -> None:
        self.path = path
        self.info = info
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, ledger: Path, socket_path: Path | None) -> ServiceLease | None:
        """Take the lease of ``ledger``; None when the medium is read-only (nothing to send from then).

        Raises:
            LeaseHeld: another process holds it (named in the message).
        """
        path = lock_path(ledger)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                return None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = None
            for _ in range(20):  # the holder may be between taking the lock and saying who it is
                info = _read(fd)
                if info is not None:
                    break
                time.sleep(0.05)
            os.close(fd)
            raise LeaseHeld(ledger, info) from None
        info = LeaseInfo(
            os.getpid(),
            socket.gethostname(),
            datetime.now(UTC).replace(microsecond=0).isoformat(),
            str(socket_path) if socket_path is not None else None,
        )
        data = json.dumps(asdict(info)).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
        return cls(path, fd, info)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # the file stays (removing a lock file races with its next holder)
        os.close(fd)  # closing releases the lock


def holder(ledger: Path) -> LeaseInfo | None:
    """Who holds ``ledger``'s lease now, or None when no ``run`` does."""
    try:
        fd = os.open(lock_path(ledger), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            for _ in range(20):
                info = _read(fd)
                if info is not None:
                    return info
                time.sleep(0.05)
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
