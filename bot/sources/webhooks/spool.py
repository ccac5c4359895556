"""The webhook intake's spool: a verified delivery is on disk before it is answered 200.

A webhook is answered in milliseconds whatever the ledger is doing (a long import
holds its write lock for many seconds): the handler appends the delivery's
normalised items to a small SQLite file of its own next to the ledger
(``NAME.intake.sqlite3``, 0600, ``synchronous = FULL``: fsynced at each commit), then
tries the ledger for a short while (:data:`ANSWER_WITHIN`). Stored in time, the
answer says what the ledger did (``stored``, ``duplicate``); otherwise it is
``queued`` and the drain writes it as soon as the ledger lets it. Either way the entry
leaves the spool only once the ledger has committed it; at start-up the drain writes
what a previous run left.

An entry the ledger refuses for what it holds (a ``ValueError``: a value out of range)
is moved to the ``poison`` table with the reason, never retried; a busy, locked,
full or missing ledger is retried with backoff (1 s doubling to 5 s, each try waiting out
the ledger's 10 s busy timeout), as long as it takes. The spool holds the items as parsed (a donor's email or platform id, before the
ledger turns it into a pseudonym) only until they are in the ledger; ``secure_delete``
and a WAL truncated when the spool is empty keep nothing of them afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.ledger.models import DonorKind, NewDonation, Reconcile, RefundEvent, Status, WriteResult

__all__ = ["ANSWER_WITHIN", "Intake", "Spool", "spool_path"]

log = logging.getLogger("donorbot.webhooks")

ANSWER_WITHIN = 0.1  # seconds the handler waits for the ledger before answering "queued"
RETRY_FIRST, RETRY_MAX = 1.0, 5.0  # seconds between tries (each try itself waits out the busy timeout)

Item = NewDonation | RefundEvent
Write = Callable[[list[Item]], Awaitable[WriteResult]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY, platform TEXT NOT NULL, received REAL NOT NULL, items TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE TABLE IF NOT EXISTS poison (
    id INTEGER PRIMARY KEY, platform TEXT NOT NULL, received REAL NOT NULL, items TEXT NOT NULL,
    reason TEXT NOT NULL, at REAL NOT NULL);
"""


def spool_path(ledger_path: Path) -> Path:
    """Where the spool of the ledger at ``ledger_path`` lives (beside it)."""
    return ledger_path.with_name(ledger_path.stem + ".intake.sqlite3")


def _encode(items: list[Item]) -> str:
    out: list[dict[str, Any]] = []
    for item in items:
        data = asdict(item)
        data["_type"] = type(item).__name__
        out.append(data)
    return json.dumps(out, default=_default, separators=(",", ":"))


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return {"_dt": value.isoformat()}
    raise TypeError(f"cannot spool {type(value).__name__}")


def _decode(text: str) -> list[Item]:
    def when(value: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value["_dt"])

    items: list[Item] = []
    for data in json.loads(text):
        kind = data.pop("_type")
        if kind == "RefundEvent":
            items.append(
                RefundEvent(
                    data["source"], data["external_id"], Status(data["status"]), when(data["received_at"])
                )
            )
            continue
        names = {f.name for f in fields(NewDonation)}
        values = {k: v for k, v in data.items() if k in names}
        values["received_at"] = when(values["received_at"])
        values["kind"] = DonorKind(values["kind"])
        values["status"] = Status(values["status"])
        values["aliases"] = tuple(values.get("aliases") or ())
        if values.get("reconcile") is not None:
            r = values["reconcile"]
            values["reconcile"] = Reconcile(r["route"], r["window"], tuple(r.get("against") or ()))
        items.append(NewDonation(**values))
    return items


class Spool:
    """The spool file: append, list, delete, set aside. Synchronous; the intake calls it in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # created 0600 whatever the umask
        os.close(fd)
        os.chmod(path, 0o600)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")  # each commit reaches the disk
            self._db.execute("PRAGMA secure_delete = ON")
            self._db.executescript(_SCHEMA)
        for extra in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(f"{path}{extra}", 0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, platform: str, items: list[Item]) -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO entries (platform, received, items) VALUES (?, ?, ?)",
                (platform, time.time(), _encode(items)),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def add_many(self, entries: list[tuple[str, list[Item]]]) -> list[int]:
        """Several deliveries in one transaction (one fsync): their ids, in order."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ids = []
                for platform, items in entries:
                    cursor = self._db.execute(
                        "INSERT INTO entries (platform, received, items) VALUES (?, ?, ?)",
                        (platform, now, _encode(items)),
                    )
                    assert cursor.lastrowid is not None
                    ids.append(cursor.lastrowid)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return ids

    def pending(self, limit: int = 1_000_000) -> list[tuple[int, str, list[Item]]]:
        """The oldest ``limit`` entries waiting for the ledger, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, platform, items FROM entries ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [(i, platform, _decode(items)) for i, platform, items in rows]

    def done(self, *entries: int) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM entries WHERE id = ?", [(e,) for e in entries])
            if self._db.execute("SELECT 1 FROM entries LIMIT 1").fetchone() is None:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no donor's data left in the WAL

    def failed(self, reason: str, *entries: int) -> None:
        with self._lock:
            self._db.executemany(
                "UPDATE entries SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                [(reason, e) for e in entries],
            )

    def set_aside(self, entry: int, reason: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    # A poison row gets an id of its own: SQLite reuses a deleted entry's id, so the
                    # next refused delivery may well carry the same one.
                    "INSERT INTO poison (platform, received, items, reason, at)"
                    " SELECT platform, received, items, ?, ? FROM entries WHERE id = ?",
                    (reason, time.time(), entry),
                )
                self._db.execute("DELETE FROM entries WHERE id = ?", (entry,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def depth(self) -> tuple[int, int]:
        """(entries waiting for the ledger, entries set aside)."""
        with self._lock:
            waiting = self._db.execute("SELECT count(*) FROM entries").fetchone()[0]
            poison = self._db.execute("SELECT count(*) FROM poison").fetchone()[0]
        return int(waiting), int(poison)


@dataclass
class _Entry:
    id: int
    platform: str
    items: list[Item]


class Intake:
    """Takes verified deliveries: spooled first, then written to the ledger (now or by the drain).

    While the ledger is free, a delivery is written at once and its answer says what the
    ledger did. As soon as one cannot be (the ledger is locked), the next ones are answered
    ``queued`` without waiting, and the drain writes them in order, many at a time, once
    the ledger lets it: a busy ledger is tried by one writer, not by every delivery.
    """

    def __init__(
        self,
        spool: Spool,
        write: Write,
        *,
        problem: Callable[[], str | None] = lambda: None,
        answer_within: float = ANSWER_WITHIN,
        batch: int = 200,
    ) -> None:
        self.spool = spool
        self._write = write
        self._problem = problem  # while it says something, nothing is written (the ledger is gone...)
        self._answer_within = answer_within
        self._batch = batch
        self._tasks: dict[int, asyncio.Task[tuple[str, WriteResult | None]]] = {}
        self._adding = 0  # deliveries being spooled by a handler, which may write them itself
        # Deliveries that arrive while others are being spooled share the next transaction.
        self._to_add: list[tuple[str, list[Item], asyncio.Future[int]]] = []
        self._adder: asyncio.Task[None] | None = None
        self._backlog = True  # entries wait for the drain (until it finds the spool empty)
        self._drain: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self.depth: tuple[int, int] = (0, 0)  # (waiting, set aside), for /metrics

    async def start(self) -> None:
        """Refresh the depth and drain what a previous run left, in the background."""
        self.depth = await asyncio.to_thread(self.spool.depth)
        self._drain = asyncio.create_task(self._drain_loop(), name="webhook spool drain")

    async def close(self, drain_for: float = 10.0) -> None:
        """Stop taking deliveries; write what is left while the ledger takes it (``drain_for``
        seconds at most); what is still not in the ledger stays in the spool for the next start."""
        self._closing = True
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=5)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_for
        with contextlib.suppress(TimeoutError):
            while (left := deadline - loop.time()) > 0:
                pending = await asyncio.to_thread(self.spool.pending, self._batch)
                if not pending:
                    break
                entries = [_Entry(i, p, items) for i, p, items in pending]
                state, _ = await asyncio.wait_for(self._write_entries(entries), left)
                if state != "done":
                    break  # the ledger cannot take them now, or one is poison: the next start sees to it
        await asyncio.to_thread(self.spool.close)

    async def take(self, platform: str, items: list[Item]) -> WriteResult | None:
        """Spool ``items`` (on disk when this returns) and, when the ledger is free, store them.

        Returns what the ledger did, or None when the entry is queued for the drain.
        Raises only when the spool itself cannot be written (then nothing was accepted).
        """
        self._adding += 1
        try:
            entry = _Entry(await self._spool_one(platform, items), platform, items)
            self.depth = (self.depth[0] + 1, self.depth[1])  # exact again at the next write
            if self._backlog or self._tasks:  # the ledger is busy: do not wait for it
                self._backlog = True
                self._wake.set()
                return None
            task = self._start(entry)
        finally:
            self._adding -= 1
        try:
            state, result = await asyncio.wait_for(asyncio.shield(task), self._answer_within)
        except TimeoutError:
            return None
        return result if state == "done" else None

    async def _spool_one(self, platform: str, items: list[Item]) -> int:
        """On disk when this returns (group commit: one fsync for all that arrived meanwhile)."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._to_add.append((platform, items, future))
        if self._adder is None or self._adder.done():
            self._adder = asyncio.create_task(self._add_queued(), name="webhook spool append")
        return await future

    async def _add_queued(self) -> None:
        while self._to_add:
            group, self._to_add = self._to_add, []
            try:
                ids = await asyncio.to_thread(self.spool.add_many, [(p, items) for p, items, _ in group])
            except Exception as exc:
                for _, _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), entry_id in zip(group, ids, strict=True):
                if not future.done():
                    future.set_result(entry_id)

    def _start(self, entry: _Entry) -> asyncio.Task[tuple[str, WriteResult | None]]:
        task = asyncio.create_task(self._attempt(entry), name=f"spool entry {entry.id}")
        self._tasks[entry.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(entry.id, None))
        return task

    async def _attempt(self, entry: _Entry) -> tuple[str, WriteResult | None]:
        """One try: ``done`` (in the ledger, out of the spool), ``aside`` (poison) or ``retry``."""
        state, result = await self._write_entries([entry])
        if state == "aside":  # alone: it is the poison
            await self._set_aside(entry, str(result))
            return "aside", None
        if state == "retry":
            self._backlog = True
            self._wake.set()
            return "retry", None
        assert isinstance(result, WriteResult)
        return "done", result

    async def _set_aside(self, entry: _Entry, reason: str) -> None:
        await asyncio.to_thread(self.spool.set_aside, entry.id, reason)
        log.error("%s: delivery %d set aside in the spool: %s", entry.platform, entry.id, reason)
        self.depth = await asyncio.to_thread(self.spool.depth)

    async def _write_entries(self, entries: list[_Entry]) -> tuple[str, WriteResult | str | None]:
        """Write ``entries`` in one ledger write: ``done`` (and the result), ``aside`` (a value
        refused: the reason) or ``retry`` (the ledger cannot take them now)."""
        ids = [e.id for e in entries]
        try:
            if (why := self._problem()) is not None:
                raise RuntimeError(why)
            result = await self._write([item for e in entries for item in e.items])
        except ValueError as exc:  # something an entry holds: it will never be stored
            return "aside", f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            await asyncio.to_thread(self.spool.failed, f"{type(exc).__name__}: {exc}", *ids)
            log.warning(
                "%d webhook deliveries kept in the spool, the ledger could not take them (%s); will retry",
                len(ids), type(exc).__name__,
            )  # fmt: skip
            return "retry", None
        await asyncio.to_thread(self.spool.done, *ids)
        self.depth = await asyncio.to_thread(self.spool.depth)
        return "done", result

    async def _drain_loop(self) -> None:
        delay = RETRY_FIRST
        while not self._closing:
            pending = await asyncio.to_thread(self.spool.pending, self._batch)
            if self._adding:
                await asyncio.sleep(0.05)  # a handler may be about to write one of these itself
                continue
            entries = [_Entry(i, p, items) for i, p, items in pending if i not in self._tasks]
            if not entries:
                if not pending:
                    self._backlog = False
                self.depth = await asyncio.to_thread(self.spool.depth)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 60.0 if not pending else 0.1)
                continue
            self._backlog = True
            state, reason = await self._write_entries(entries)
            if state == "aside" and len(entries) == 1:
                await self._set_aside(entries[0], str(reason))
            elif state == "aside":  # one of them is poison: one by one, to set it aside alone
                for entry in entries:
                    state = (await self._start(entry))[0]
                    if state == "retry":
                        break
            if state == "retry":
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_FIRST
