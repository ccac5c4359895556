"""The outbox: what the bot owes each target, who is sending it, and what got through.

The ledger holds one ``deliveries`` row per (kind, month, target), and this module
is the only one that writes it:

- *owed*: a row is recorded ``pending`` before anything is built or sent, so a
  failure at any later step leaves something owed (with its reason in
  ``last_error``), which the next sweep sends;
- *claimed*: a process sends a pending row only after taking it under its own name
  with a compare-and-set on ``owner`` and ``lease_until``
  (``UPDATE ... WHERE state = 'pending' AND (owner IS NULL OR lease_until < now)``).
  Two processes can never both send one delivery. The claim is renewed while the
  send lasts; when its holder dies it expires (at ``lease_until``, or at once when
  the holder was a process of this machine that no longer exists);
- *parts*: each part of a delivery (one Discord message of a long bulletin, the
  chart...) is recorded in ``delivery_parts`` as soon as it is posted, so a resend
  posts only the rest, under the same idempotency keys;
- *done*: the row becomes ``sent`` with the platform's message ids, or ``failed``
  with the reason (a permanent error), or goes back to ``pending`` with the reason.

``force`` owes a month already sent once more, under a new generation (hence new
idempotency keys and no parts yet).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from bot.ledger.store import Ledger
from bot.months import Month

__all__ = [
    "LEASE_SECONDS",
    "Claim",
    "DeliveryRow",
    "Holder",
    "Outbox",
    "OwedRow",
    "PartsOfClaim",
    "Taken",
]

LEASE_SECONDS = 120  # a claim not renewed for this long is free for anyone to take

PENDING, SENT, FAILED = "pending", "sent", "failed"


def _process_state(pid: int) -> str | None:
    """The state letter of a process of this machine (``Z`` for a zombie), None if it does not exist."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "?"  # another user's: it exists
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return "?"


@dataclass(frozen=True, slots=True)
class Holder:
    """A process that may hold claims: its machine, its pid and when it started (Unix time)."""

    host: str
    pid: int
    started: int

    @classmethod
    def current(cls) -> Holder:
        return cls(socket.gethostname(), os.getpid(), int(time.time()))

    @property
    def name(self) -> str:
        return f"{self.host}:{self.pid}:{self.started}"

    @classmethod
    def parse(cls, name: str) -> Holder | None:
        host, _, rest = name.rpartition(":")
        host, _, pid = host.rpartition(":")
        if not (pid.isdigit() and rest.isdigit()):
            return None
        return cls(host, int(pid), int(rest))

    def gone(self) -> bool:
        """True when this holder certainly no longer runs (a process of this machine, dead or a zombie)."""
        if self.host != socket.gethostname():
            return False  # cannot tell from here: wait for its lease to expire
        return _process_state(self.pid) in (None, "Z", "X")

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.started).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        return f"pid {self.pid} on {self.host}, since {since}"


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One row of the outbox, as ``status`` shows it."""

    id: int
    kind: str
    month: Month
    target: str
    generation: int
    state: str
    attempts: int
    last_error: str | None
    message_ids: list[str]
    created_at: int
    updated_at: int
    owner: str | None
    lease_until: int | None


@dataclass(frozen=True, slots=True)
class OwedRow:
    """A delivery to record as owed: ``kind`` (``bulletin``, ``alert:...``), month, target name."""

    kind: str
    month: Month
    target: str


@dataclass(frozen=True, slots=True)
class Claim:
    """A pending delivery this process holds: only the holder sends it."""

    id: int
    kind: str
    month: Month
    target: str
    generation: int
    attempts: int  # send attempts before this claim
    parts: dict[str, str]  # part -> message id, already posted under this generation
    holder: str

    @property
    def first(self) -> bool:
        """Nothing was tried yet: a first send, not a resend."""
        return self.attempts == 0 and not self.parts


@dataclass(frozen=True, slots=True)
class Taken:
    """A delivery this process may not send now: already ``sent``, ``failed``, or held by another process."""

    state: str
    holder: Holder | None = None
    message_ids: tuple[str, ...] = ()
    last_error: str | None = None

    def describe(self) -> str:
        if self.holder is not None:
            return f"being sent by another donorbot ({self.holder.describe()})"
        return self.state


class PartsOfClaim:
    """The :class:`~bot.chat.sender.PartLog` of one claim: what was posted, recorded as it is posted."""

    def __init__(self, outbox: Outbox, claim: Claim) -> None:
        self._outbox = outbox
        self._claim = claim
        self.done: dict[str, str] = dict(claim.parts)

    def sent(self, part: str) -> str | None:
        return self.done.get(part)

    async def record(self, part: str, message_id: str) -> None:
        self.done[part] = message_id
        await self._outbox.record_part(self._claim, part, message_id)


_COLUMNS = (
    "id, kind, month, target, generation, state, attempts, last_error, message_ids,"
    " created_at, updated_at, owner, lease_until"
)


def _row(values: Sequence[Any]) -> DeliveryRow:
    id_, kind, month, target, generation, state, attempts, error, ids, created, updated, owner, lease = values
    return DeliveryRow(
        id=id_,
        kind=kind,
        month=Month.from_key(month),
        target=target,
        generation=generation,
        state=state,
        attempts=attempts,
        last_error=error,
        message_ids=json.loads(ids) if ids else [],
        created_at=created,
        updated_at=updated,
        owner=owner,
        lease_until=lease,
    )


class Outbox:
    """The ``deliveries`` and ``delivery_parts`` tables of one ledger, for one process.

    Args:
        ledger: the open ledger.
        holder: this process (the name claims are taken under).
        lease: seconds a claim holds without being renewed.
        clock: wall-clock seconds for leases (real time, even when a test fakes "now").
    """

    def __init__(
        self,
        ledger: Ledger,
        holder: Holder | None = None,
        *,
        lease: int = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self.holder = holder or Holder.current()
        self.lease = lease
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    # --- owing ------------------------------------------------------------------------------

    @staticmethod
    async def owe_in(db: aiosqlite.Connection, rows: Iterable[OwedRow], stamp: int) -> int:
        """Record ``rows`` as owed inside the caller's transaction (rows already there are kept)."""
        total = 0
        for row in rows:
            cursor = await db.execute(
                "INSERT OR IGNORE INTO deliveries (kind, month, target, state, created_at, updated_at)"
                " VALUES (?, ?, ?, 'pending', ?, ?)",
                (row.kind, row.month.key, row.target, stamp, stamp),
            )
            total += max(cursor.rowcount, 0)
        return total

    @staticmethod
    async def drop_in(db: aiosqlite.Connection, kinds: Sequence[str]) -> list[tuple[str, str, list[str]]]:
        """Delete every delivery of ``kinds`` and its parts, inside the caller's transaction.

        For ``forget``: thanks that named a person are no longer owed, and nothing keeps the
        link between their donation and the messages posted. Returns, per delivery deleted,
        (target, state, ids of the messages already posted), so they can be deleted in the chat.
        """
        dropped: list[tuple[str, str, list[str]]] = []
        for start in range(0, len(kinds), 500):
            chunk = list(kinds[start : start + 500])
            marks = ",".join("?" for _ in chunk)
            cursor = await db.execute(
                f"SELECT id, target, state, message_ids FROM deliveries WHERE kind IN ({marks}) ORDER BY id",
                chunk,
            )
            for delivery, target, state, message_ids in list(await cursor.fetchall()):
                parts = await db.execute(
                    "SELECT message_id FROM delivery_parts WHERE delivery = ? ORDER BY sent_at, part",
                    (delivery,),
                )
                posted = [str(m) for (m,) in await parts.fetchall()]
                for found in json.loads(message_ids) if message_ids else []:
                    if str(found) not in posted:
                        posted.append(str(found))
                dropped.append((str(target), str(state), posted))
                await db.execute("DELETE FROM delivery_parts WHERE delivery = ?", (delivery,))
                await db.execute("DELETE FROM deliveries WHERE id = ?", (delivery,))
        return dropped

    async def owe(self, kind: str, month: Month, target: str, now: datetime | None = None) -> bool:
        """Record that ``target`` is owed this message; False if it already was (whatever its state)."""
        stamp = int(now.timestamp()) if now is not None else self._now()
        async with self.ledger.writing() as db:
            return bool(await self.owe_in(db, [OwedRow(kind, month, target)], stamp))

    async def request(
        self, kind: str, month: Month, target: str, *, force: bool = False, now: datetime | None = None
    ) -> DeliveryRow:
        """Someone asked for this delivery now (``post``, ``news post``): make it owed unless it was sent.

        A row never sent (new, pending, failed) becomes pending; a sent row stays sent
        unless ``force``, which owes it again under the next generation. Returns the row.
        """
        stamp = int(now.timestamp()) if now is not None else self._now()
        key = (kind, month.key, target)
        async with self.ledger.writing() as db:
            await self.owe_in(db, [OwedRow(kind, month, target)], stamp)
            await db.execute(
                "UPDATE deliveries SET state = 'pending', updated_at = ? WHERE kind = ? AND month = ?"
                " AND target = ? AND state = 'failed'",
                (stamp, *key),
            )
            if force:
                await db.execute(
                    "UPDATE deliveries SET state = 'pending', generation = generation + 1, attempts = 0,"
                    " last_error = NULL, message_ids = NULL, owner = NULL, lease_until = NULL,"
                    " updated_at = ? WHERE kind = ? AND month = ? AND target = ? AND state = 'sent'",
                    (stamp, *key),
                )
            cursor = await db.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE kind = ? AND month = ? AND target = ?", key
            )
            found = await cursor.fetchone()
        assert found is not None
        return _row(tuple(found))

    # --- claiming ---------------------------------------------------------------------------

    async def claim(self, kind: str, month: Month, target: str) -> Claim | Taken | None:
        """Take the pending row under this process's name (compare-and-set); None if there is no row."""
        now = self._now()
        async with self.ledger.writing() as db:
            cursor = await db.execute(
                "SELECT id, state, generation, attempts, owner, lease_until, message_ids, last_error"
                " FROM deliveries WHERE kind = ? AND month = ? AND target = ?",
                (kind, month.key, target),
            )
            found = await cursor.fetchone()
            if found is None:
                return None
            id_, state, generation, attempts, owner, lease_until, ids, error = found
            if state != PENDING:
                return Taken(state, message_ids=tuple(json.loads(ids) if ids else ()), last_error=error)
            dead = None
            if owner is not None and owner != self.holder.name and (lease_until or 0) >= now:
                holder = Holder.parse(owner)
                if holder is None or not holder.gone():
                    return Taken(PENDING, holder=holder, last_error=error)
                dead = owner  # its process is gone: the claim is void before it expires
            cursor = await db.execute(
                "UPDATE deliveries SET owner = ?, lease_until = ? WHERE id = ? AND state = 'pending'"
                " AND (owner IS NULL OR lease_until < ? OR owner = ?)",
                (self.holder.name, now + self.lease, id_, now, dead),
            )
            if cursor.rowcount != 1:  # cannot happen inside BEGIN IMMEDIATE; never send on a doubt
                return Taken(PENDING, holder=Holder.parse(owner) if owner else None, last_error=error)
            cursor = await db.execute(
                "SELECT part, message_id FROM delivery_parts WHERE delivery = ? AND generation = ?"
                " ORDER BY sent_at, part",
                (id_, generation),
            )
            parts = {str(part): str(message) for part, message in await cursor.fetchall()}
        return Claim(id_, kind, month, target, generation, attempts, parts, self.holder.name)

    async def renew(self, claim: Claim) -> bool:
        """Extend the claim's lease; False if this process no longer holds it."""
        async with self.ledger.writing() as db:
            cursor = await db.execute(
                "UPDATE deliveries SET lease_until = ? WHERE id = ? AND owner = ? AND state = 'pending'",
                (self._now() + self.lease, claim.id, claim.holder),
            )
            return cursor.rowcount == 1

    def parts(self, claim: Claim) -> PartsOfClaim:
        return PartsOfClaim(self, claim)

    async def record_part(self, claim: Claim, part: str, message_id: str) -> None:
        """One part posted: recorded at once, in its own transaction."""
        async with self.ledger.writing() as db:
            await db.execute(
                "INSERT OR REPLACE INTO delivery_parts (delivery, generation, part, message_id, sent_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (claim.id, claim.generation, part, message_id, self._now()),
            )

    # --- outcomes ---------------------------------------------------------------------------

    async def _finish(
        self,
        claim: Claim,
        state: str,
        *,
        error: str | None,
        message_ids: list[str] | None = None,
        attempt: bool,
        keep: bool = False,
    ) -> None:
        owner_sql = "owner = owner, lease_until = lease_until" if keep else "owner = NULL, lease_until = NULL"
        async with self.ledger.writing() as db:
            await db.execute(
                f"UPDATE deliveries SET state = ?, last_error = ?, message_ids = coalesce(?, message_ids),"
                f" attempts = attempts + ?, updated_at = ?, {owner_sql} WHERE id = ? AND owner = ?",
                (
                    state,
                    error,
                    json.dumps(message_ids) if message_ids is not None else None,
                    1 if attempt else 0,
                    self._now(),
                    claim.id,
                    claim.holder,
                ),
            )

    async def sent(self, claim: Claim, message_ids: list[str]) -> None:
        await self._finish(claim, SENT, error=None, message_ids=message_ids, attempt=True)

    async def failed(self, claim: Claim, reason: str, *, attempt: bool = True) -> None:
        """A permanent error (or nothing left to send): not retried by the sweep."""
        await self._finish(claim, FAILED, error=reason, attempt=attempt)

    async def retry_later(self, claim: Claim, reason: str, *, attempt: bool = True) -> None:
        """Still owed: back to pending with its reason, the claim released for the next sweep."""
        await self._finish(claim, PENDING, error=reason, attempt=attempt)

    async def attempt_failed(self, claim: Claim, reason: str) -> None:
        """A transient error during a send this process keeps retrying: noted, claim kept."""
        await self._finish(claim, PENDING, error=reason, attempt=True, keep=True)

    async def release(self, claim: Claim) -> None:
        """Let go of a claim without changing anything else (e.g. stopping)."""
        async with self.ledger.writing() as db:
            await db.execute(
                "UPDATE deliveries SET owner = NULL, lease_until = NULL WHERE id = ? AND owner = ?",
                (claim.id, claim.holder),
            )

    async def note(self, kind: str, month: Month, target: str, reason: str) -> None:
        """Record why a pending delivery could not even be tried (a platform that cannot connect)."""
        async with self.ledger.writing() as db:
            await db.execute(
                "UPDATE deliveries SET last_error = ?, updated_at = ? WHERE kind = ? AND month = ?"
                " AND target = ? AND state = 'pending'",
                (reason, self._now(), kind, month.key, target),
            )

    # --- reading ----------------------------------------------------------------------------

    async def get(self, kind: str, month: Month, target: str) -> DeliveryRow | None:
        rows = await self.ledger.query(
            f"SELECT {_COLUMNS} FROM deliveries WHERE kind = ? AND month = ? AND target = ?",
            (kind, month.key, target),
        )
        return _row(tuple(rows[0])) if rows else None

    async def pending(self) -> list[DeliveryRow]:
        """Every pending delivery, oldest first."""
        rows = await self.ledger.query(
            f"SELECT {_COLUMNS} FROM deliveries WHERE state = 'pending' ORDER BY created_at, id"
        )
        return [_row(tuple(r)) for r in rows]

    async def rows(self) -> list[DeliveryRow]:
        rows = await self.ledger.query(f"SELECT {_COLUMNS} FROM deliveries ORDER BY month DESC, target")
        return [_row(tuple(r)) for r in rows]

    async def counts(self) -> list[tuple[str, str, int]]:
        """(target, state, how many), for metrics."""
        rows = await self.ledger.query(
            "SELECT target, state, count(*) FROM deliveries GROUP BY target, state ORDER BY target, state"
        )
        return [(str(t), str(s), int(n)) for t, s, n in rows]

    async def parts_of(self, row: DeliveryRow) -> dict[str, str]:
        rows = await self.ledger.query(
            "SELECT part, message_id FROM delivery_parts WHERE delivery = ? AND generation = ?"
            " ORDER BY sent_at, part",
            (row.id, row.generation),
        )
        return {str(p): str(m) for p, m in rows}
