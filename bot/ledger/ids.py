"""Payment ids: keyed ids for payments a platform does not number, and each payment's aliases.

**Keyed ids.** Where a platform gives no payment id, a source derives one from what it
has, often the person's platform id and a date (Liberapay ``patron_id:date``). Such an
id must never be stored as is: the source writes it with :func:`keyed` and the ledger
stores ``k:`` + HMAC-SHA256 of it under the pseudonym key, so the same payment always
gets the same id (imports stay idempotent) and nothing links it back without the key.

**Aliases.** One payment may reach the ledger by several routes (an export, a webhook,
an API sync), each knowing it by a different id. ``donation_ids`` maps every id a
donation is known by, beyond its own ``external_id``, to it; ``donation_matches`` keeps,
for donations that may be reconciled without a shared id, what they are matched on.
The functions below run on the writer connection inside the caller's transaction.
"""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

__all__ = [
    "KEYED_PREFIX",
    "LEGACY_KEYED_FORMS",
    "find_donation",
    "find_donations",
    "forget_matches",
    "hash_keyed",
    "is_keyed",
    "keyed",
    "known_sources",
    "match_reconcilable",
    "record_ids",
    "rehash_legacy_ids",
    "remember_reconcilables",
]

KEYED_PREFIX = "keyed:"
NO_DONOR = ""  # donation_matches.donor_key of a payment whose route named no donor
STORED_PREFIX = "k:"

# Ids that earlier versions stored in the clear, by source: any id of these sources with
# a colon that is not already keyed (Liberapay ``patron_id:date``, Patreon
# ``member_id:date``, GitHub Sponsors ``login:created_at``). Liberapay's ``secret:…``
# ids name nobody and stay.
LEGACY_KEYED_FORMS: dict[str, str] = {
    "liberapay": "external_id LIKE '%:%' AND external_id NOT LIKE 'secret:%' AND external_id NOT LIKE 'k:%'",
    "patreon": "external_id LIKE '%:%' AND external_id NOT LIKE 'k:%'",
    "github-sponsors": "external_id LIKE '%:%' AND external_id NOT LIKE 'k:%'",
}


def keyed(text: str) -> str:
    """Mark an id that embeds a person's platform id: the ledger stores only its keyed hash."""
    return KEYED_PREFIX + text


def is_keyed(external_id: str) -> bool:
    return external_id.startswith(KEYED_PREFIX)


def hash_keyed(key: bytes, source: str, text: str) -> str:
    """The stored form of ``keyed(text)`` for ``source``: ``k:`` and 32 hex digits."""
    message = f"payment-id\x00{source}\x00{text}".encode()
    return STORED_PREFIX + hmac.digest(key, message, "sha256").hex()[:32]


def _marks(ids: Sequence[str]) -> str:
    return ",".join("?" for _ in ids)


async def known_sources(db: aiosqlite.Connection) -> set[str]:
    """Sources that have any alias: only their plain donations need an alias check."""
    cursor = await db.execute("SELECT DISTINCT source FROM donation_ids")
    return {row[0] for row in await cursor.fetchall()}


async def find_donation(db: aiosqlite.Connection, source: str, ids: Sequence[str]) -> int | None:
    """The donation known by any of ``ids`` (its own id or an alias), if any."""
    if not ids:
        return None
    marks = _marks(ids)
    cursor = await db.execute(
        f"SELECT id FROM donations WHERE source = ? AND external_id IN ({marks})"
        f" UNION ALL SELECT donation FROM donation_ids WHERE source = ? AND external_id IN ({marks})"
        " LIMIT 1",
        (source, *ids, source, *ids),
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else None


async def find_donations(
    db: aiosqlite.Connection, ids: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int]]:
    """Which of ``(source, id)`` are known (a donation's own id or an alias): the donation and its time."""
    if not ids:
        return {}
    await db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_ids (source TEXT, external_id TEXT)")
    await db.execute("DELETE FROM temp.wanted_ids")
    await db.executemany("INSERT INTO temp.wanted_ids VALUES (?, ?)", list(dict.fromkeys(ids)))
    cursor = await db.execute(
        "SELECT w.source, w.external_id, d.id, d.received_at FROM temp.wanted_ids w"
        " JOIN donations d ON d.source = w.source AND d.external_id = w.external_id"
        " UNION ALL"
        " SELECT w.source, w.external_id, d.id, d.received_at FROM temp.wanted_ids w"
        " JOIN donation_ids x ON x.source = w.source AND x.external_id = w.external_id"
        " JOIN donations d ON d.id = x.donation"
    )
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for source, external_id, donation, stamp in await cursor.fetchall():
        found.setdefault((source, external_id), (int(donation), int(stamp)))
    await db.execute("DELETE FROM temp.wanted_ids")
    return found


async def record_ids(db: aiosqlite.Connection, source: str, donation: int, ids: Iterable[str]) -> list[str]:
    """Make ``ids`` aliases of ``donation`` (those not its own id); returns the ids newly recorded."""
    cursor = await db.execute("SELECT external_id FROM donations WHERE id = ?", (donation,))
    own = await cursor.fetchone()
    added = []
    for external_id in dict.fromkeys(ids):
        if own is not None and external_id == own[0]:
            continue
        cursor = await db.execute(
            "INSERT OR IGNORE INTO donation_ids (source, external_id, donation) VALUES (?, ?, ?)",
            (source, external_id, donation),
        )
        if cursor.rowcount > 0:
            added.append(external_id)
    return added


async def match_reconcilable(
    db: aiosqlite.Connection,
    *,
    source: str,
    donor_key: str | None,
    private: bool,
    currency: str,
    amount: int,
    stamp: int,
    route: str,
    window: int,
    against: Sequence[str] = (),
) -> int | None:
    """The donation another route stored for this payment (see ``Reconcile``), marked as matched.

    A payment whose route names no donor (``donor_key`` None: Open Collective's webhook for
    an incognito contributor) may be a *private* donation of another route, whoever its
    donor; a private donation may be one whose route named no donor. A named donation
    matches only its own donor's.
    """
    among = "".join(" OR instr(routes, ?) > 0" for _ in against)
    keys: tuple[str, ...] = ()
    if donor_key is None:
        who = "donation IN (SELECT id FROM donations WHERE display_name IS NULL)"
    elif private:
        who, keys = f"donor_key IN (?, '{NO_DONOR}')", (donor_key,)
    else:
        who, keys = "donor_key = ?", (donor_key,)
    cursor = await db.execute(
        "SELECT donation FROM donation_matches"
        f" WHERE source = ? AND {who} AND currency = ? AND amount = ?"
        " AND received_at BETWEEN ? AND ? AND instr(routes, ?) = 0"
        + (f" AND (0{among})" if against else "")
        + " ORDER BY abs(received_at - ?), donation LIMIT 1",
        (
            source,
            *keys,
            currency,
            amount,
            stamp - window,
            stamp + window,
            f"|{route}|",
            *(f"|{other}|" for other in against),
            stamp,
        ),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    await db.execute(
        "UPDATE donation_matches SET routes = routes || ? || '|' WHERE donation = ?", (route, row[0])
    )
    return int(row[0])


async def remember_reconcilables(
    db: aiosqlite.Connection, entries: Sequence[tuple[Sequence[Any], int, str, int | None]]
) -> None:
    """Keep what a later route's report of each payment will be matched on.

    ``entries`` are ``(row, donation, route, amount)``: the donation's row as inserted, its
    id, the route that reported it, and the amount to match on when not the row's.
    """
    await db.executemany(
        "INSERT OR IGNORE INTO donation_matches (donation, source, donor_key, currency, amount,"
        " received_at, routes) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                donation,
                row[0],
                row[2] or NO_DONOR,
                row[6],
                row[5] if amount is None else amount,
                row[7],
                f"|{route}|",
            )
            for row, donation, route, amount in entries
        ],
    )


async def forget_matches(db: aiosqlite.Connection, donor_key: str) -> None:
    """A forgotten donor's payments can no longer be matched on their pseudonym."""
    await db.execute("DELETE FROM donation_matches WHERE donor_key = ?", (donor_key,))


def rehash_legacy_ids(db: sqlite3.Connection, key: bytes) -> int:
    """Replace ids stored in the clear by earlier versions with their keyed form (one transaction).

    The keyed form hashes exactly the text that used to be stored, so the sources, which
    now write ``keyed(that text)``, find these donations again and nothing is imported twice.
    """
    db.create_function("keyed_id", 2, lambda source, text: hash_keyed(key, source, text), deterministic=True)
    changed = 0
    db.execute("BEGIN IMMEDIATE")
    try:
        for table in ("donations", "pending_refunds", "donation_ids"):
            for source, condition in LEGACY_KEYED_FORMS.items():
                cursor = db.execute(
                    f"UPDATE OR IGNORE {table} SET external_id = keyed_id(source, external_id)"
                    f" WHERE source = ? AND {condition}",
                    (source,),
                )
                changed += max(cursor.rowcount, 0)
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('keyed_ids', '1')"
            " ON CONFLICT (key) DO UPDATE SET value = '1'"
        )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return changed
