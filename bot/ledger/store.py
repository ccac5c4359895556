"""The SQLite ledger: one writer connection, one reader connection, WAL mode.

Writes go through :meth:`Ledger.batch` (one transaction, rollups maintained
before commit) or :meth:`Ledger.writing` for other tables (the outbox). Reads
use their own connection, so a report never sees half of an import.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import aiosqlite

from bot.dates import EARLIEST_SECONDS, date_problem, latest_seconds
from bot.files import make_private, private_dir, sqlite_files
from bot.ledger import health
from bot.ledger.ids import (
    KEYED_PREFIX,
    find_donation,
    find_donations,
    hash_keyed,
    is_keyed,
    match_reconcilable,
    rehash_legacy_ids,
    remember_reconcilables,
)
from bot.ledger.migrations import DONATION_INDEXES, LATEST, migrate, schema_version
from bot.ledger.models import DonorKind, NewDonation, Reconcile, RefundEvent, Status, WriteResult
from bot.ledger.pseudonym import Pseudonymizer

if TYPE_CHECKING:
    from bot.ledger.privacy import Forgotten
from bot.ledger.rollups import APPLY_DELTA, CLEAR_ROLLUPS, PREPARE, REBUILD

__all__ = ["Ledger", "LedgerError", "MonthRow", "PublicDonation", "WriteBatch"]

NAME_LIMIT = 256
MESSAGE_LIMIT = 4096
BUSY_TIMEOUT_MS = 10_000
# Set on every connection to a ledger. secure_delete: what is deleted or overwritten (a forgotten
# donor's name) is zeroed in the file, not left in free space; SQLite builds differ in their default.
CONNECTION_PRAGMAS = ("PRAGMA secure_delete = ON", "PRAGMA synchronous = NORMAL")

_INSERT = """
INSERT OR IGNORE INTO donations (source, external_id, donor_key, display_name, message, amount,
    currency, received_at, month, recurring, kind, status)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


class LedgerError(Exception):
    """The ledger cannot do what was asked (locked, read-only, missing key...)."""


@dataclass(frozen=True, slots=True)
class MonthRow:
    """One month's rollup. ``donors`` counts identified donors; anonymous donations are apart."""

    month: int
    donations: int
    donors: int
    anonymous: int
    new_donors: int
    repeat_donors: int
    recurring_donors: int
    organisations: int

    @property
    def all_donors(self) -> int:
        """Identified donors plus anonymous donations (each counts as one person)."""
        return self.donors + self.anonymous


@dataclass(frozen=True, slots=True)
class PublicDonation:
    name: str
    message: str | None
    amount: int
    currency: str
    ordinal: int  # this donor's nth succeeded donation
    organisation: bool
    received_at: datetime


def _month_key(moment: datetime, tz: ZoneInfo) -> int:
    local = moment.astimezone(tz)
    return local.year * 100 + local.month


class _MonthOfStamp:
    """``_month_key`` for a Unix time, remembered per hour: an import asks millions of times.

    An hour is remembered only when the zone's offset is the same at both its ends and
    both ends fall in one month: then every instant of it does, and the answer is the one
    ``_month_key`` gives. Other hours (a change of offset inside) are computed each time.
    """

    LIMIT = 200_000

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.hours: dict[int, int] = {}

    def __call__(self, stamp: int) -> int:
        hour = stamp // 3600
        month = self.hours.get(hour)
        if month is not None:
            return month
        first = datetime.fromtimestamp(hour * 3600, self.tz)
        last = datetime.fromtimestamp(hour * 3600 + 3599, self.tz)
        month = first.year * 100 + first.month
        if first.utcoffset() == last.utcoffset() and last.year * 100 + last.month == month:
            if len(self.hours) >= self.LIMIT:
                self.hours.clear()
            self.hours[hour] = month
            return month
        return _month_key(datetime.fromtimestamp(stamp, UTC), self.tz)


_VALUES: dict[DonorKind | Status, str] = {member: member.value for member in (*DonorKind, *Status)}
MAX_AMOUNT = 10**14  # minor units: a trillion in any currency, far inside SQLite's integers
MIN_TIME = EARLIEST_SECONDS  # the one range every parser shares (bot/dates.py)
MAX_TIME = int(datetime(9998, 12, 30, tzinfo=UTC).timestamp())  # what months are computed for


def _explain(exc: sqlite3.Error) -> str:
    """SQLite's terse errors, said so that a maintainer knows what to do."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            f"the ledger is locked by another process (waited {BUSY_TIMEOUT_MS // 1000} s); "
            "nothing was written: try again when it has finished"
        )
    if "readonly" in text or "read-only" in text:
        return (
            "the ledger is read-only (check the permissions of the file and its folder); nothing was written"
        )
    if "disk is full" in text or "full" in text:
        return "the disk is full; nothing of this write was stored: free some space and try again"
    return text


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text[:limit] if text else None


def _connect_sync(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    # Opening created the file if it was new: 0600 before the -wal and -shm exist (SQLite gives them its mode).
    make_private(path)
    for pragma in CONNECTION_PRAGMAS:
        db.execute(pragma)
    db.execute("PRAGMA journal_mode = WAL")
    return db


def _rebuild_rollups(db: sqlite3.Connection) -> None:
    """Recompute every rollup from the donations (inside the caller's transaction)."""
    for statement in (*CLEAR_ROLLUPS, *REBUILD):
        db.execute(statement)
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('rollups', 'ok') ON CONFLICT (key) DO UPDATE SET value = 'ok'"
    )


def _check_sound(db: sqlite3.Connection, path: Path) -> None:
    """``quick_check`` a ledger small enough to check at once (see ``bot.ledger.health``)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size <= health.QUICK_CHECK_AT_OPEN and (problem := health.quick_check(db, path)):
        raise LedgerError(problem)


def _prepare_read_only(path: Path, uri: str, tz: ZoneInfo) -> list[str]:
    """Check a ledger that cannot be written: sound, current schema, months in ``tz``."""
    db = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        for pragma in CONNECTION_PRAGMAS:
            db.execute(pragma)
        _check_sound(db, path)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall()) if schema_version(db) else {}
        needs = []
        if schema_version(db) != LATEST:
            needs.append(f"a schema upgrade to version {LATEST}")
        elif meta.get("timezone") != tz.key or meta.get("rollups") == "stale":
            needs.append(f"its months recomputed for {tz.key}")
        if needs:
            raise LedgerError(
                f"{path}: the ledger is read-only and needs {needs[0]} before it can be read; "
                "open it once where it can be written"
            )
    finally:
        db.close()
    return []


def _prepare(path: Path, tz: ZoneInfo, key: bytes | None = None) -> list[str]:
    """Create or upgrade the file, and bring derived data in line with the configured zone."""
    notes: list[str] = []
    if not path.parent.exists():
        private_dir(path.parent)
    # Donors' data is the owner's alone: an older version, a copy or a restore may have left it open.
    notes += [change for change in map(make_private, sqlite_files(path)) if change]
    db = _connect_sync(path)
    try:
        _check_sound(db, path)
        applied = migrate(db)
        if applied:
            notes.append(f"schema upgraded to version {LATEST} (applied {', '.join(map(str, applied))})")
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if key is not None and meta.get("keyed_ids") != "1":
            # Ids that earlier versions stored in the clear (they embed a platform id): the
            # old text must not survive in freed pages either.
            db.execute("PRAGMA secure_delete = ON")
            if rehashed := rehash_legacy_ids(db, key):
                notes.append(f"{rehashed} payment ids that embedded a platform id replaced by keyed ids")
        stored_tz = meta.get("timezone")
        rebuild = meta.get("rollups") == "stale"
        db.execute("BEGIN IMMEDIATE")
        try:
            if stored_tz != tz.key:
                if stored_tz is not None:
                    # Months are derived from the zone; a new zone moves donations between months.
                    db.create_function(
                        "month_in_zone",
                        1,
                        lambda ts: _month_key(datetime.fromtimestamp(ts, UTC), tz),
                        deterministic=True,
                    )
                    db.execute("UPDATE donations SET month = month_in_zone(received_at)")
                    notes.append(f"time zone changed from {stored_tz} to {tz.key}: months recomputed")
                    rebuild = True
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('timezone', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (tz.key,),
                )
            if rebuild:
                _rebuild_rollups(db)
                notes.append("rollups rebuilt from the donations")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.close()
    return notes


class Ledger:
    """The donation ledger. Open with :meth:`open`, close with :meth:`close`."""

    def __init__(
        self,
        path: Path,
        tz: ZoneInfo,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        pseudonymize: Pseudonymizer | None,
        notes: list[str],
    ) -> None:
        self.path = path
        self.tz = tz
        self._writer = writer
        self._reader = reader
        self._pseudonymize = pseudonymize
        self._month_of = _MonthOfStamp(tz)
        self._id_key: bytes | None = None  # the pseudonym key, for keyed payment ids
        self._lock = asyncio.Lock()
        self._queue: list[tuple[list[NewDonation | RefundEvent], asyncio.Future[WriteResult]]] = []
        self._committer: asyncio.Task[None] | None = None
        self.notes = notes  # what opening did (upgrades, rebuilds), for the caller to log
        self.read_only = False  # opened read-only (the file or its folder is not writable)
        self.damage: str | None = None  # set by check_soundness when the file is damaged
        self._identity: tuple[int, int] | None = None  # (device, inode) at open

    @classmethod
    async def open(cls, path: Path, tz: ZoneInfo, key: bytes | None = None) -> Ledger:
        """Open (creating or upgrading) the ledger at ``path``.

        ``key`` is the pseudonym key; without it the ledger can read and record
        anonymous donations, but not donations with a donor identity.
        """
        if problem := health.empty_file_problem(path):
            raise LedgerError(problem)
        mode = health.access_mode(path)
        try:
            if mode == "rw":
                notes = await asyncio.to_thread(_prepare, path, tz, key)
                target, uri = str(path), False
            else:
                target, uri = health.read_uri(path, mode), True
                notes = await asyncio.to_thread(_prepare_read_only, path, target, tz)
                notes.append(
                    "opened read-only: the file or its folder is not writable; nothing can be written"
                )
            writer = await aiosqlite.connect(target, isolation_level=None, uri=uri)
            reader = await aiosqlite.connect(target, isolation_level=None, uri=uri)
        except sqlite3.OperationalError as exc:
            raise LedgerError(f"{path}: cannot open the ledger: {_explain(exc)}") from exc
        except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
            raise LedgerError(health.damaged(path, str(exc))) from None
        for db in (writer, reader):
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            for pragma in CONNECTION_PRAGMAS:
                await db.execute(pragma)
            await db.execute("PRAGMA cache_size = -32000")
        await reader.execute("PRAGMA query_only = 1")
        for statement in PREPARE:
            await writer.execute(statement)
        ledger = cls(path, tz, writer, reader, Pseudonymizer(key) if key else None, notes)
        ledger._id_key = key or None
        ledger.read_only = mode != "rw"
        ledger._identity = health.identity(path)
        return ledger

    def problem(self, *, with_path: bool = True) -> str | None:
        """Why this ledger must not take writes any more (replaced, deleted, damaged), or None.

        Cheap (one ``stat``): the webhook intake asks before every delivery. Without
        ``with_path`` the reason is said without the file's path (for HTTP answers).
        """
        why = self.damage or health.moved(self.path, self._identity)
        return why if why is None or with_path else why.removeprefix(f"{self.path}: ")

    async def check_soundness(self) -> str | None:
        """The full ``quick_check`` of a ledger too large to check at open (slow: in a thread).

        Sets :attr:`damage` when the check fails, so :meth:`problem` says so from then on.
        """

        def run() -> str | None:
            db = sqlite3.connect(health.read_uri(self.path, "ro"), uri=True)
            try:
                db.execute(CONNECTION_PRAGMAS[0])  # secure_delete, on every ledger connection
                return health.quick_check(db, self.path)
            finally:
                db.close()

        self.damage = await asyncio.to_thread(run)
        return self.damage

    async def close(self) -> None:
        async with self._lock:
            await self._reader.close()
            await self._writer.close()

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def pseudonym(self, identity: str) -> str:
        if self._pseudonymize is None:
            raise LedgerError("the pseudonym key is not set (see ledger.pseudonym_key_env)")
        key = self._pseudonymize(identity)
        assert key is not None
        return key

    def stored_id(self, source: str, external_id: str) -> str:
        """The id as the ledger stores it: a :func:`bot.ledger.ids.keyed` id becomes its keyed hash."""
        if not is_keyed(external_id):
            return external_id
        if self._id_key is None:
            raise LedgerError("the pseudonym key is not set (see ledger.pseudonym_key_env)")
        return hash_keyed(self._id_key, source, external_id.removeprefix(KEYED_PREFIX))

    # --- writing -------------------------------------------------------------------------

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer connection inside ``BEGIN IMMEDIATE ... COMMIT`` (rolled back on error)."""
        async with self._lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise LedgerError(f"{self.path}: cannot write: {_explain(exc)}") from exc
            try:
                yield self._writer
                await self._writer.execute("COMMIT")
            except BaseException as exc:
                # SQLite may have rolled back already (a full disk does): only roll back what is open.
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise LedgerError(f"{self.path}: cannot write: {_explain(exc)}") from exc
                raise

    def batch(self, expected_rows: int = 0) -> WriteBatch:
        """A transaction for many writes: ``async with ledger.batch() as b: await b.add(items)``.

        ``expected_rows`` (an import's line count) lets a large write into a smaller ledger
        take the bulk route: indexes and rollups built once at the end instead of row by row.
        """
        return WriteBatch(self, expected_rows)

    async def write(self, items: Iterable[NewDonation | RefundEvent]) -> WriteResult:
        """Store donations and apply refunds, in one transaction.

        Writes that arrive while another is being committed are grouped into the next
        transaction (group commit): under a burst of webhooks each one costs a fraction of
        a transaction, and when idle a write is committed at once. A write that fails
        fails alone: a group that fails is retried one write at a time.
        """
        batch_items = list(items)
        for item in batch_items:  # a bad record is refused before it can spoil a group
            if isinstance(item, NewDonation):
                self._row(item)
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.append((batch_items, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="ledger group commit")
        return await future

    async def _commit_queued(self) -> None:
        while self._queue:
            group, self._queue = self._queue, []
            try:
                results = await self._commit_group(group)
            except Exception as exc:
                if len(group) == 1:
                    if not group[0][1].done():
                        group[0][1].set_exception(exc)
                    continue
                for one in group:  # find the write that failed; the others still go in
                    try:
                        [result] = await self._commit_group([one])
                    except Exception as single:
                        if not one[1].done():
                            one[1].set_exception(single)
                    else:
                        if not one[1].done():
                            one[1].set_result(result)
                continue
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _commit_group(
        self, group: list[tuple[list[NewDonation | RefundEvent], asyncio.Future[WriteResult]]]
    ) -> list[WriteResult]:
        results = []
        async with self.batch() as batch:
            for items, _ in group:
                total = batch.result
                before = (total.inserted, total.duplicates, total.refunds_applied, total.refunds_pending)
                await batch.add(items)
                results.append(
                    WriteResult(
                        inserted=total.inserted - before[0],
                        duplicates=total.duplicates - before[1],
                        refunds_applied=total.refunds_applied - before[2],
                        refunds_pending=total.refunds_pending - before[3],
                        months=set(),
                    )
                )
        if len(results) == 1:
            return [batch.result]  # alone: the whole batch's figures (refunds applied at commit too)
        for result in results:
            result.months = set(batch.result.months or ())
        return results

    def _row(self, d: NewDonation) -> tuple[Any, ...]:
        if d.received_at.tzinfo is None:
            raise ValueError(f"{d.source}:{d.external_id}: received_at has no time zone")
        if not d.external_id:
            raise ValueError(f"{d.source}: a donation needs an external id")
        if not 0 <= d.amount <= MAX_AMOUNT:
            raise ValueError(
                f"{d.source}:{d.external_id}: amount {d.amount} is out of range (0 to {MAX_AMOUNT})"
            )
        try:
            stamp = int(d.received_at.timestamp())
            if not MIN_TIME <= stamp <= latest_seconds():
                raise ValueError
        except (ValueError, OverflowError, OSError):
            problem = date_problem(d.received_at) or "is out of range"
            raise ValueError(f"{d.source}:{d.external_id}: date {d.received_at!s} {problem}") from None
        # A whole second: the month of the stored time (fractions of a second are not stored).
        month = self._month_of(stamp)
        external_id = self.stored_id(d.source, d.external_id)
        donor_key = None
        if d.donor_id is not None:
            donor_key = self.pseudonym(d.donor_id)
        public = d.public
        return (
            d.source,
            external_id,
            donor_key,
            _clip(d.display_name, NAME_LIMIT) if public else None,
            _clip(d.message, MESSAGE_LIMIT) if public else None,
            d.amount,
            d.currency,
            stamp,
            month,
            int(d.recurring),
            _VALUES[d.kind],
            _VALUES[d.status],
        )

    async def rebuild_rollups(self) -> None:
        """Recompute every rollup from the donations."""
        async with self.writing() as db:
            for statement in (*CLEAR_ROLLUPS, *REBUILD):
                await db.execute(statement)

    async def forget(self, identity: str) -> Forgotten:
        """Erase a person, keeping every figure true (see :mod:`bot.ledger.privacy`)."""
        from bot.ledger.privacy import forget

        return await forget(self, identity)

    async def checkpoint(self, attempts: int = 3) -> bool:
        """Copy the write-ahead log into the main file and truncate it to zero bytes.

        A connection of another process that is idle does not block this; one in the
        middle of a read does, for up to the busy timeout per attempt. Returns whether
        the log was emptied (False: it will be at a later checkpoint).
        """
        async with self._lock:
            for attempt in range(attempts):
                cursor = await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                row = await cursor.fetchone()
                await cursor.close()
                if row is not None and row[0] == 0:
                    return True
                if attempt + 1 < attempts:
                    await asyncio.sleep(0.1)
        return False

    # --- reading -------------------------------------------------------------------------

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        cursor = await self._reader.execute(sql, params)
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)

    async def months(self, upto: int | None = None) -> list[MonthRow]:
        """Every month's rollup, oldest first (a few hundred rows at most)."""
        sql = (
            "SELECT month, donations, donors, anonymous, new_donors, repeat_donors, recurring_donors,"
            " organisations FROM month_stats"
        )
        params: tuple[int, ...] = ()
        if upto is not None:
            sql += " WHERE month <= ?"
            params = (upto,)
        rows = await self._all(sql + " ORDER BY month", params)
        return [MonthRow(*row) for row in rows]

    async def month_totals(self, first: int, last: int | None = None) -> dict[str, tuple[int, int]]:
        """Currency -> (donations, amount in minor units) over months ``first..last``."""
        rows = await self._all(
            "SELECT currency, sum(donations), sum(amount) FROM month_totals"
            " WHERE month BETWEEN ? AND ? GROUP BY currency ORDER BY currency",
            (first, last if last is not None else first),
        )
        return {currency: (count, amount) for currency, count, amount in rows}

    async def totals_by_month(self, upto: int) -> dict[int, dict[str, int]]:
        """Month -> currency -> amount (minor units), for every month up to ``upto``."""
        rows = await self._all(
            "SELECT month, currency, amount FROM month_totals WHERE month <= ? ORDER BY month", (upto,)
        )
        out: dict[int, dict[str, int]] = {}
        for month, currency, amount in rows:
            out.setdefault(month, {})[currency] = amount
        return out

    async def amount_histogram(self, month: int) -> dict[str, list[tuple[int, int]]]:
        """Currency -> sorted [(amount, how many)] of the month's counted donations (index only)."""
        rows = await self._all(
            "SELECT currency, amount, donations FROM month_amounts WHERE month = ? ORDER BY currency, amount",
            (month,),
        )
        out: dict[str, list[tuple[int, int]]] = {}
        for currency, amount, count in rows:
            out.setdefault(currency, []).append((amount, count))
        return out

    async def public_donations(self, month: int, limit: int) -> tuple[list[PublicDonation], int]:
        """The month's donations by donors who chose to be named (oldest first), and how many in all."""
        count_rows = await self._all(
            "SELECT coalesce(max(public_donations), 0) FROM month_stats WHERE month = ?", (month,)
        )
        rows = await self._all(
            """
            SELECT d.display_name, d.message, d.amount, d.currency, d.kind, d.received_at,
                   CASE WHEN d.donor_key IS NULL THEN 1 ELSE (
                       SELECT count(*) FROM donations p
                       WHERE p.donor_key = d.donor_key AND p.status = 'succeeded'
                         AND (p.received_at < d.received_at OR (p.received_at = d.received_at AND p.id <= d.id))
                   ) END
            FROM donations d INDEXED BY donations_public
            WHERE d.month = ? AND d.display_name IS NOT NULL AND d.status = 'succeeded'
            ORDER BY d.received_at, d.id
            LIMIT ?
            """,
            (month, limit),
        )
        donations = [
            PublicDonation(
                name=name,
                message=message,
                amount=amount,
                currency=currency,
                ordinal=ordinal,
                organisation=kind == "organisation",
                received_at=datetime.fromtimestamp(ts, UTC),
            )
            for name, message, amount, currency, kind, ts, ordinal in rows
        ]
        return donations, int(count_rows[0][0])

    async def period_figures(
        self, start: datetime, end: datetime, *, donors: bool = True
    ) -> tuple[dict[str, int], int]:
        """Currency -> amount, and distinct donors, of counted donations in ``[start, end)``.

        Whole months come from the rollups; only a month the period really cuts (a
        donation of that month falls outside the period) is read donation by
        donation, from the ``donations_month_time`` index. Distinct donors over several
        months cannot be added month by month: they are counted over ``donor_months``,
        and only when ``donors`` is asked for.
        """
        first, last = _month_key(start, self.tz), _month_key(end, self.tz)
        lo, hi = int(start.timestamp()), int(end.timestamp())
        cut: list[int] = []
        for month in sorted({first, last}):
            bounds = await self._all(
                "SELECT (SELECT received_at FROM donations INDEXED BY donations_month_time"
                " WHERE month = ?1 AND status = 'succeeded' ORDER BY received_at LIMIT 1),"
                " (SELECT received_at FROM donations INDEXED BY donations_month_time"
                " WHERE month = ?1 AND status = 'succeeded' ORDER BY received_at DESC LIMIT 1)",
                (month,),
            )
            low, high = bounds[0]
            if low is not None and (low < lo or high >= hi):
                cut.append(month)
        whole = "month BETWEEN ? AND ?" + "".join(" AND month != ?" for _ in cut)
        whole_params = (first, last, *cut)
        amounts: dict[str, int] = {}
        for currency, amount in await self._all(
            f"SELECT currency, sum(amount) FROM month_totals WHERE {whole} GROUP BY currency", whole_params
        ):
            amounts[currency] = amounts.get(currency, 0) + amount
        slice_ = " OR ".join("month = ?" for _ in cut) or "0"
        sliced = (
            f"FROM donations WHERE ({slice_}) AND status = 'succeeded'"
            " AND received_at >= ? AND received_at < ?"
        )
        if cut:
            for currency, amount in await self._all(
                f"SELECT currency, sum(amount) {sliced} GROUP BY currency", (*cut, lo, hi)
            ):
                amounts[currency] = amounts.get(currency, 0) + amount
        if not donors:
            return amounts, 0
        people = await self._all(
            f"SELECT count(*) FROM (SELECT donor_key FROM donor_months WHERE {whole}"
            f" UNION SELECT donor_key {sliced} AND donor_key IS NOT NULL)",
            (*whole_params, *cut, lo, hi),
        )
        anonymous = await self._all(
            f"SELECT coalesce(sum(anonymous), 0) FROM month_stats WHERE {whole}", whole_params
        )
        anonymous_cut = (
            await self._all(f"SELECT count(*) {sliced} AND donor_key IS NULL", (*cut, lo, hi))
            if cut
            else [(0,)]
        )
        return amounts, int(people[0][0]) + int(anonymous[0][0]) + int(anonymous_cut[0][0])

    async def export_donor(self, identity: str) -> dict[str, Any]:
        """Everything the ledger holds about one person (see :mod:`bot.ledger.privacy`)."""
        from bot.ledger.privacy import export_donor

        return await export_donor(self, identity)

    async def size(self) -> dict[str, int]:
        rows = await self._all(
            "SELECT (SELECT coalesce(max(id), 0) FROM donations),"
            " (SELECT coalesce(sum(donations), 0) FROM month_stats),"
            " (SELECT count(*) FROM pending_refunds)"
        )
        stored, counted, pending = rows[0]
        return {"donations_stored": stored, "donations_counted": counted, "refunds_pending": pending}

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """A read-only query on the reader connection (for status pages and tests)."""
        return await self._all(sql, params)


# Two reports of one payment (a route's creation time, another's clearing time) are this
# close at most; the same id further apart is another payment whose short id collides.
SAME_PAYMENT_SECONDS = 31 * 86_400

# Below this many new donations the rollups are always updated by delta, and indexes kept.
BULK_MIN_ROWS = 10_000


class WriteBatch:
    """One write transaction; rollups are brought up to date just before it commits.

    A batch that adds at least as many donations as the ledger held (a first import, a
    large catch-up) is a bulk write: the secondary indexes are dropped at the start and
    built again at the end, and the rollups are recomputed from scratch rather than
    updated row by row. Both happen inside the transaction, so a failure or a dry run
    rolls them back with everything else.
    """

    def __init__(self, ledger: Ledger, expected_rows: int = 0) -> None:
        self._ledger = ledger
        self._expected_rows = expected_rows
        self._bulk = False
        self._context: Any = None
        self._db: aiosqlite.Connection | None = None
        self._first_new_id = 0
        self._aborted = False
        self._aliased: dict[str, bool] = {}  # source -> whether it has aliases (asked once per batch)
        self._routes: dict[str, str] = {}  # source -> "|route|…|" that stored reconcilable donations
        self.result = WriteResult(months=set())

    async def __aenter__(self) -> WriteBatch:
        self._context = self._ledger.writing()
        self._db = await self._context.__aenter__()
        try:
            cursor = await self._db.execute("SELECT coalesce(max(id), 0) FROM donations")
            row = await cursor.fetchone()
            self._first_new_id = int(row[0]) + 1 if row else 1
            if self._expected_rows >= max(BULK_MIN_ROWS, self._first_new_id - 1):
                self._bulk = True
                for name in DONATION_INDEXES:
                    await self._db.execute(f"DROP INDEX IF EXISTS {name}")
        except BaseException as error:
            await self._context.__aexit__(type(error), error, error.__traceback__)
            raise
        return self

    @property
    def bulk(self) -> bool:
        """Whether this batch took the bulk route (indexes and rollups built at the end)."""
        return self._bulk

    def abort(self) -> None:
        """Roll back at exit instead of committing (``--dry-run``); the result still counts."""
        self._aborted = True

    async def add(self, items: Iterable[NewDonation | RefundEvent]) -> None:
        assert self._db is not None, "use WriteBatch inside 'async with'"
        rows: list[tuple[Any, ...]] = []
        linked: list[tuple[NewDonation, tuple[Any, ...]]] = []
        refunds: list[RefundEvent] = []
        for item in items:
            if isinstance(item, RefundEvent):
                refunds.append(item)
                continue
            row = self._ledger._row(item)
            # In order: an earlier row may be the same payment as a later one.
            if item.aliases or item.reconcile is not None:
                if rows:
                    await self._insert(rows)
                    rows = []
                linked.append((item, row))
            else:
                if linked:
                    await self._insert_linked(linked)
                    linked = []
                rows.append(row)
        await self._insert(rows)
        await self._insert_linked(linked)
        for refund in refunds:
            await self._refund(refund)

    async def _has_aliases(self, source: str) -> bool:
        assert self._db is not None
        known = self._aliased.get(source)
        if known is None:
            cursor = await self._db.execute("SELECT 1 FROM donation_ids WHERE source = ? LIMIT 1", (source,))
            known = self._aliased[source] = await cursor.fetchone() is not None
        return known

    async def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        """Donations without aliases: one statement for all (the import's fast path)."""
        assert self._db is not None
        if not rows:
            return
        # Another route may have stored one of these payments with this id as an alias: only
        # sources that have aliases are looked up (once per batch), the others go straight in.
        aliased = {source for source in {row[0] for row in rows} if await self._has_aliases(source)}
        fresh = rows
        if aliased:
            fresh = []
            for row in rows:
                if row[0] in aliased:
                    cursor = await self._db.execute(
                        "SELECT 1 FROM donation_ids WHERE source = ? AND external_id = ?", (row[0], row[1])
                    )
                    if await cursor.fetchone() is not None:
                        self.result.duplicates += 1
                        continue
                fresh.append(row)
        cursor = await self._db.executemany(_INSERT, fresh)
        inserted = max(cursor.rowcount, 0)
        self.result.inserted += inserted
        self.result.duplicates += len(fresh) - inserted

    async def _insert_linked(self, linked: list[tuple[NewDonation, tuple[Any, ...]]]) -> None:
        """Donations with aliases or a reconcile rule: each stored once, whichever of its ids came first.

        Set-based, so that an export of such rows costs a few statements per chunk rather than
        several per row: every id of the chunk is looked up at once, the chunk is walked in
        order (a later row may be an earlier one's payment), then the new donations, their
        aliases and what they may be reconciled on are written in one statement each.
        """
        db = self._db
        assert db is not None
        if not linked:
            return
        wanted = [
            (row[0], row[1], [row[1], *(self._ledger.stored_id(row[0], alias) for alias in item.aliases)])
            for item, row in linked
        ]
        known = await find_donations(
            db, [(source, external_id) for source, _, ids in wanted for external_id in ids]
        )
        local: dict[tuple[str, str], int | str] = {key: donation for key, (donation, _) in known.items()}
        # When each known donation was received: two payments whose short ids collide (8 hex
        # digits do, in a large export) are not merged; one payment's routes date it within
        # days of each other (a forgotten donor's rows keep their times, not their pseudonym).
        stamps: dict[int | str, int] = {donation: stamp for donation, stamp in known.values()}
        fresh: list[tuple[Any, ...]] = []
        aliases: list[tuple[str, str, int | str]] = []
        matches: list[tuple[tuple[Any, ...], str, int | None]] = []
        added: list[tuple[str, str]] = []
        for (item, row), (source, own, ids) in zip(linked, wanted, strict=True):
            donor = row[2]
            found: int | str | None = None
            for external_id in ids:
                ref = local.get((source, external_id))
                if ref is not None and abs(stamps.get(ref, row[7]) - row[7]) <= SAME_PAYMENT_SECONDS:
                    found = ref
                    break
            if found is None and (source, own) in local:
                # Its own id is another person's payment's: it is stored under a longer one.
                own = "+".join(ids)
                row = (row[0], own, *row[2:])
                ids = [own, *ids[1:]]
                found = local.get((source, own)) or await find_donation(db, source, [own])
            reconcile = item.reconcile
            if found is None and reconcile is not None and await self._may_match(source, reconcile):
                found = await match_reconcilable(
                    db,
                    source=source,
                    donor_key=donor,
                    private=row[3] is None,
                    currency=row[6],
                    amount=row[5] if reconcile.amount is None else reconcile.amount,
                    stamp=row[7],
                    route=reconcile.route,
                    window=reconcile.window,
                    against=reconcile.against,
                )
                if found is not None:
                    await self._routes_seen(source, reconcile.route)
            if found is None:
                fresh.append(row)
                self.result.inserted += 1
                stamps[own] = row[7]
                for external_id in ids:
                    local.setdefault((source, external_id), own)
                aliases += [(source, external_id, own) for external_id in ids[1:]]
                if reconcile is not None:
                    matches.append((row, reconcile.route, reconcile.amount))
                continue
            self.result.duplicates += 1
            for external_id in ids:
                if (source, external_id) not in local:
                    local[(source, external_id)] = found
                    aliases.append((source, external_id, found))
                    if isinstance(found, int):
                        added.append((source, external_id))
        if fresh:
            before = await db.execute("SELECT coalesce(max(id), 0) FROM donations")
            first = int((await before.fetchone() or (0,))[0]) + 1
            await db.executemany(_INSERT, fresh)
            cursor = await db.execute("SELECT source, external_id, id FROM donations WHERE id >= ?", (first,))
            new_ids = {
                (source, external_id): int(donation)
                for source, external_id, donation in await cursor.fetchall()
            }
        else:
            new_ids = {}

        def donation_of(source: str, ref: int | str) -> int:
            return ref if isinstance(ref, int) else new_ids[(source, ref)]

        if aliases:
            await db.executemany(
                "INSERT OR IGNORE INTO donation_ids (source, external_id, donation) VALUES (?, ?, ?)",
                [(source, external_id, donation_of(source, ref)) for source, external_id, ref in aliases],
            )
            for source, _, _ in aliases:
                self._aliased[source] = True
        for source, route in {(row[0], route) for row, route, _ in matches}:
            await self._routes_seen(source, route)
        if matches:
            await remember_reconcilables(
                db,
                [(row, new_ids[(row[0], row[1])], route, amount) for row, route, amount in matches],
            )
        if added:
            await self._pending_for_ids(added)

    async def _routes_seen(self, source: str, route: str) -> None:
        """Remember that ``source`` has donations reported by ``route`` (for :meth:`_may_match`)."""
        assert self._db is not None
        routes = await self._match_routes(source)
        if f"|{route}|" not in routes:
            self._routes[source] = routes + f"{route}|"
            await self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"match-routes:{source}", self._routes[source]),
            )

    async def _match_routes(self, source: str) -> str:
        assert self._db is not None
        routes = self._routes.get(source)
        if routes is None:
            cursor = await self._db.execute(
                "SELECT value FROM meta WHERE key = ?", (f"match-routes:{source}",)
            )
            row = await cursor.fetchone()
            if row is None:  # a ledger written before the key existed: ask the table once
                cursor = await self._db.execute(
                    "SELECT DISTINCT routes FROM donation_matches WHERE source = ?", (source,)
                )
                names = {r for (value,) in await cursor.fetchall() for r in value.split("|") if r}
                routes = "|" + "".join(f"{r}|" for r in sorted(names))
            else:
                routes = str(row[0])
            self._routes[source] = routes
        return routes

    async def _may_match(self, source: str, reconcile: Reconcile) -> bool:
        """Whether any donation of another route (one of ``against``) could be this one."""
        names = {r for r in (await self._match_routes(source)).split("|") if r} - {reconcile.route}
        return bool(names & set(reconcile.against) if reconcile.against else names)

    async def _pending_for_ids(self, ids: list[tuple[str, str]]) -> None:
        """Refunds kept under ids that existing donations have just become known by."""
        assert self._db is not None
        for source, external_id in ids:
            await self._pending_for(source, [external_id])

    async def _pending_for(self, source: str, ids: list[str]) -> None:
        """Refunds kept under an id that an existing donation has just become known by."""
        assert self._db is not None
        for external_id in ids:
            cursor = await self._db.execute(
                "DELETE FROM pending_refunds WHERE source = ? AND external_id = ? RETURNING status",
                (source, external_id),
            )
            pending = await cursor.fetchone()
            if pending is not None:
                self.result.refunds_pending -= min(self.result.refunds_pending, 1)
                await self._refund(RefundEvent(source, external_id, Status(pending[0])))

    async def _refund(self, event: RefundEvent) -> None:
        assert self._db is not None
        status = event.status if event.status != Status.SUCCEEDED else Status.REFUNDED
        external_id = self._ledger.stored_id(event.source, event.external_id)
        cursor = await self._db.execute(
            "UPDATE donations SET status = ? WHERE source = ? AND external_id = ? AND status = 'succeeded'"
            " RETURNING id, month",
            (status.value, event.source, external_id),
        )
        changed = list(await cursor.fetchall())
        if not changed and await self._has_aliases(event.source):
            cursor = await self._db.execute(
                "UPDATE donations SET status = ? WHERE id = (SELECT donation FROM donation_ids"
                " WHERE source = ? AND external_id = ?) AND status = 'succeeded' RETURNING id, month",
                (status.value, event.source, external_id),
            )
            changed = list(await cursor.fetchall())
        if changed:
            donation_id, month = changed[0]
            self.result.refunds_applied += 1
            assert self.result.months is not None
            self.result.months.add(month)
            if donation_id < self._first_new_id:
                await self._db.execute("INSERT INTO temp.delta (id, sign) VALUES (?, -1)", (donation_id,))
            return
        if await find_donation(self._db, event.source, [external_id]) is None:
            await self._db.execute(
                "INSERT OR IGNORE INTO pending_refunds (source, external_id, status) VALUES (?, ?, ?)",
                (event.source, external_id, status.value),
            )
            self.result.refunds_pending += 1

    async def _finish(self) -> None:
        assert self._db is not None
        db, lo = self._db, self._first_new_id
        # Refunds that came before their donation.
        cursor = await db.execute(
            "UPDATE donations SET status = p.status FROM pending_refunds p"
            " WHERE donations.source = p.source AND donations.external_id = p.external_id"
            " AND donations.id >= ? AND donations.status = 'succeeded' RETURNING donations.id",
            (lo,),
        )
        early = list(await cursor.fetchall())
        # ... or that named one of its aliases.
        cursor = await db.execute(
            "UPDATE donations SET status = p.status FROM pending_refunds p JOIN donation_ids i"
            " ON i.source = p.source AND i.external_id = p.external_id"
            " WHERE donations.id = i.donation AND donations.id >= ? AND donations.status = 'succeeded'"
            " RETURNING donations.id",
            (lo,),
        )
        early += list(await cursor.fetchall())
        if early:
            await db.execute(
                "DELETE FROM pending_refunds WHERE (source, external_id) IN"
                " (SELECT i.source, i.external_id FROM donation_ids i JOIN donations d ON d.id = i.donation"
                " WHERE d.id >= ? AND d.status != 'succeeded')",
                (lo,),
            )
            self.result.refunds_applied += len(early)
            self.result.refunds_pending -= min(self.result.refunds_pending, len(early))
            await db.execute(
                "DELETE FROM pending_refunds WHERE (source, external_id) IN"
                " (SELECT source, external_id FROM donations WHERE id >= ? AND status != 'succeeded')",
                (lo,),
            )
        if self._bulk:
            for statement in DONATION_INDEXES.values():
                await db.execute(statement)
        cursor = await db.execute("SELECT coalesce(max(id), 0) FROM donations")
        last = (await cursor.fetchone() or (0,))[0]
        assert self.result.months is not None
        if last - lo + 1 >= max(BULK_MIN_ROWS, lo - 1):
            # At least as many new donations as old ones: recomputing is cheaper than a delta.
            cursor = await db.execute(
                "SELECT DISTINCT month FROM donations WHERE id >= ? AND status = 'succeeded'", (lo,)
            )
            self.result.months.update(row[0] for row in await cursor.fetchall())
            for statement in ("DELETE FROM temp.delta", *CLEAR_ROLLUPS, *REBUILD):
                await db.execute(statement)
        else:
            await db.execute(
                "INSERT INTO temp.delta (id, sign) SELECT id, 1 FROM donations WHERE id >= ? AND status = 'succeeded'",
                (lo,),
            )
            cursor = await db.execute(
                "SELECT DISTINCT d.month FROM temp.delta x JOIN donations d ON d.id = x.id"
            )
            self.result.months.update(row[0] for row in await cursor.fetchall())
            for statement in APPLY_DELTA:
                await db.execute(statement)
        await db.execute(
            "INSERT INTO meta (key, value) VALUES ('last_write', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(int(time.time())),),
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None and not self._aborted:
            try:
                await self._finish()
            except BaseException as error:
                await self._context.__aexit__(type(error), error, error.__traceback__)
                raise
            await self._context.__aexit__(None, None, None)
            return
        if exc is None:  # aborted: roll back, quietly
            rollback = _Rollback()
            await self._context.__aexit__(_Rollback, rollback, None)
            return
        await self._context.__aexit__(exc_type, exc, tb)


class _Rollback(Exception):
    """Raised into the transaction context to roll it back (dry runs)."""
