"""Donors' rights on the ledger: forgetting a person, and showing them what is held.

Forgetting keeps every figure true. The person's donations are moved, in one
transaction, from their pseudonym (the keyed hash of their email or platform id)
to a fresh random key that nothing links back to: no key, no email and no
platform id can find it again. They stay one person in every count (donors of
each month, new and returning donors, all-time donors, goals, milestones,
records); only their names, their messages, the link to the person and the
deliveries that thanked them by name disappear.

After the erasure the write-ahead log is checkpointed and truncated, so the old
pages (which still hold the name and message) leave the ``-wal`` file at once,
and ``secure_delete`` (set on every ledger connection) has overwritten them in
the main file.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.ledger.ids import forget_matches
from bot.ledger.rollups import APPLY_DELTA

if TYPE_CHECKING:
    from bot.ledger.store import Ledger

__all__ = ["Forgotten", "export_donor", "forget", "forget_in_spool", "random_donor_key"]

THANKS = "thanks:"


def random_donor_key() -> str:
    """A donor key drawn at random, shaped like a pseudonym (32 hex digits) so nothing tells them apart."""
    return secrets.token_hex(16)


@dataclass(slots=True)
class Forgotten:
    """What one ``forget`` changed."""

    donations: int = 0  # donations unlinked from the person (they still count, as one person)
    names_removed: int = 0
    messages_removed: int = 0
    thanks_removed: int = 0  # thanks deliveries (pending or sent) that named the person
    posted_thanks: list[dict[str, Any]] = field(default_factory=list)  # sent thanks: where, which messages
    wal_truncated: bool = True

    @property
    def changed(self) -> bool:
        return bool(self.donations or self.names_removed or self.messages_removed or self.thanks_removed)


async def forget(ledger: Ledger, identity: str) -> Forgotten:
    """Erase a person; idempotent (a second call finds nothing and changes nothing)."""
    key = ledger.pseudonym(identity)
    done = Forgotten()
    async with ledger.writing() as db:
        cursor = await db.execute(
            "SELECT count(*), count(display_name), count(message) FROM donations WHERE donor_key = ?",
            (key,),
        )
        done.donations, done.names_removed, done.messages_removed = await cursor.fetchone() or (0, 0, 0)
        if done.donations:
            # Thanks deliveries name the person (in the chat message they posted): drop them, and
            # say where the sent ones are so the maintainer can delete those messages there.
            from bot.outbox import Outbox

            cursor = await db.execute("SELECT 'thanks:' || id FROM donations WHERE donor_key = ?", (key,))
            kinds = [str(kind) for (kind,) in await cursor.fetchall()]
            dropped = await Outbox.drop_in(db, kinds)
            done.thanks_removed = len(dropped)
            done.posted_thanks = [
                {"target": target, "message_ids": ids}
                for target, state, ids in dropped
                if ids or state == "sent"
            ]
            # The -1 of each counted donation is applied while it still has its old key, the +1
            # once it has the new one (see bot.ledger.rollups): the donor's history moves whole.
            await db.execute(
                "INSERT INTO temp.delta (id, sign) SELECT id, -1 FROM donations"
                " WHERE donor_key = ? AND status = 'succeeded'",
                (key,),
            )
            await db.execute("CREATE TEMP TABLE IF NOT EXISTS forgotten (id INTEGER PRIMARY KEY)")
            await db.execute("DELETE FROM temp.forgotten")
            await db.execute("INSERT INTO temp.forgotten SELECT id FROM temp.delta")
            for statement in APPLY_DELTA:
                await db.execute(statement)
            await db.execute(
                "UPDATE donations SET donor_key = ?, display_name = NULL, message = NULL WHERE donor_key = ?",
                (random_donor_key(), key),
            )
            await forget_matches(db, key)
            await db.execute("INSERT INTO temp.delta (id, sign) SELECT id, 1 FROM temp.forgotten")
            await db.execute("DELETE FROM temp.forgotten")
            for statement in APPLY_DELTA:
                await db.execute(statement)
    if done.changed:
        done.wal_truncated = await ledger.checkpoint()
    return done


def _ids(text: str | None) -> list[str]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _month(key: int | None) -> str | None:
    return None if key is None else f"{key // 100:04d}-{key % 100:02d}"


async def export_donor(ledger: Ledger, identity: str) -> dict[str, Any]:
    """Everything the ledger holds about one person (right of access), and nothing about anyone else."""
    key = ledger.pseudonym(identity)
    rows = await ledger.query(
        "SELECT id, source, external_id, display_name, message, amount, currency, received_at, recurring,"
        " kind, status FROM donations WHERE donor_key = ? ORDER BY received_at, id",
        (key,),
    )
    summary = await ledger.query(
        "SELECT first_month, second_month, last_month, donations FROM donors WHERE donor_key = ?", (key,)
    )
    months = await ledger.query(
        "SELECT month, donations, recurring, organisation FROM donor_months WHERE donor_key = ? ORDER BY month",
        (key,),
    )
    thanks = await ledger.query(
        "SELECT x.kind, x.target, x.state, x.message_ids, x.created_at, x.updated_at FROM deliveries x"
        " JOIN donations d ON x.kind = 'thanks:' || d.id WHERE d.donor_key = ? ORDER BY x.id",
        (key,),
    )
    aliases = await ledger.query(
        "SELECT a.donation, a.external_id FROM donation_ids a JOIN donations d ON d.id = a.donation"
        " WHERE d.donor_key = ? ORDER BY a.donation, a.external_id",
        (key,),
    )
    routes = await ledger.query(
        "SELECT m.donation, m.routes FROM donation_matches m JOIN donations d ON d.id = m.donation"
        " WHERE d.donor_key = ?",
        (key,),
    )
    other_ids: dict[int, list[str]] = {}
    for donation, external_id in aliases:
        other_ids.setdefault(donation, []).append(external_id)
    routes_of = {donation: [r for r in text.split("|") if r] for donation, text in routes}
    by_id = {row[0]: row for row in rows}
    return {
        "identity": identity,
        "pseudonym": key,
        "stored": "the pseudonym (a keyed hash of the identity above), and per donation the fields below;"
        " never the email or the platform account id",
        "summary": (
            {
                "first_month": _month(summary[0][0]),
                "second_month": _month(summary[0][1]),
                "last_month": _month(summary[0][2]),
                "donations": summary[0][3],
            }
            if summary
            else None
        ),
        "donations": [
            {
                "source": source,
                "external_id": external_id,
                "display_name": name,
                "message": message,
                "amount_minor": amount,
                "currency": currency,
                "received_at": datetime.fromtimestamp(ts, UTC).isoformat(),
                "recurring": bool(recurring),
                "kind": kind,
                "status": status,
                "other_ids": other_ids.get(donation_id, []),
                "reported_by": routes_of.get(donation_id, []),
            }
            for donation_id, source, external_id, name, message, amount, currency, ts, recurring, kind, status in rows
        ],
        "months": [
            {
                "month": _month(month),
                "donations": count,
                "recurring": bool(recurring),
                "organisation": bool(org),
            }
            for month, count, recurring, org in months
        ],
        "thanks": [
            {
                "donation": by_id[int(kind.removeprefix(THANKS))][2],
                "target": target,
                "state": state,
                "message_ids": _ids(ids),
                "created_at": datetime.fromtimestamp(created, UTC).isoformat(),
                "updated_at": datetime.fromtimestamp(updated, UTC).isoformat(),
            }
            for kind, target, state, ids, created, updated in thanks
        ],
    }


def forget_in_spool(spool: Path, identity: str) -> tuple[int, int]:
    """Erase a person from the webhook intake's spool file, if there is one.

    Entries the ledger refused (set aside, kept for the maintainer) that came from the
    person are deleted; entries still waiting for the ledger are counted, not touched (a
    donation is never dropped): once stored, a second ``forget`` unlinks them too. Returns
    (entries deleted, entries waiting). Synchronous: call it in a thread.
    """
    if not spool.exists():
        return 0, 0
    db = sqlite3.connect(spool, isolation_level=None, timeout=30)
    try:
        db.execute("PRAGMA secure_delete = ON")
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        of_person = "EXISTS (SELECT 1 FROM json_each(items) WHERE json_extract(value, '$.donor_id') = ?)"
        deleted = waiting = 0
        if "poison" in names:
            deleted = db.execute(f"DELETE FROM poison WHERE {of_person}", (identity,)).rowcount
        if "entries" in names:
            waiting = int(
                db.execute(f"SELECT count(*) FROM entries WHERE {of_person}", (identity,)).fetchone()[0]
            )
        if deleted:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return max(deleted, 0), waiting
    finally:
        db.close()
