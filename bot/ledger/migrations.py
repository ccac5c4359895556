"""Numbered schema upgrades: one SQL script per version, each in its own transaction.

The version lives in SQLite's ``PRAGMA user_version``. A ledger at version N is
upgraded by running N+1, N+2, ... in order; each commits with its version, so an
interrupted upgrade resumes where it stopped.
"""

from __future__ import annotations

import sqlite3

__all__ = ["DONATION_INDEXES", "LATEST", "MIGRATIONS", "migrate", "schema_version"]


_V1_DONATIONS = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE donations (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            external_id TEXT NOT NULL,
            donor_key TEXT,
            display_name TEXT,
            message TEXT,
            amount INTEGER NOT NULL CHECK (amount >= 0),
            currency TEXT NOT NULL,
            received_at INTEGER NOT NULL,
            month INTEGER NOT NULL,
            recurring INTEGER NOT NULL DEFAULT 0,
            kind TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'organisation')),
            status TEXT NOT NULL DEFAULT 'succeeded'
                CHECK (status IN ('succeeded', 'refunded', 'disputed')),
            UNIQUE (source, external_id)
        );
        CREATE INDEX donations_donor ON donations (donor_key, received_at)
            WHERE donor_key IS NOT NULL;
        -- The bulletin lists the donors who chose to be named.
        CREATE INDEX donations_public ON donations (month, received_at)
            WHERE display_name IS NOT NULL;
        """


# Per-month and per-donor rollups, so a month's report never scans history. They are
# filled by the store (marked stale here), which owns the one routine that maintains them.
_V2_ROLLUPS = """
        CREATE TABLE donor_months (
            month INTEGER NOT NULL,
            donor_key TEXT NOT NULL,
            donations INTEGER NOT NULL,
            recurring INTEGER NOT NULL,
            organisation INTEGER NOT NULL,
            PRIMARY KEY (month, donor_key)
        ) WITHOUT ROWID;
        CREATE INDEX donor_months_donor ON donor_months (donor_key, month);
        CREATE TABLE donors (
            donor_key TEXT PRIMARY KEY,
            first_month INTEGER NOT NULL,
            second_month INTEGER,
            last_month INTEGER NOT NULL,
            donations INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE month_stats (
            month INTEGER PRIMARY KEY,
            donations INTEGER NOT NULL DEFAULT 0,
            donors INTEGER NOT NULL DEFAULT 0,
            anonymous INTEGER NOT NULL DEFAULT 0,
            new_donors INTEGER NOT NULL DEFAULT 0,
            repeat_donors INTEGER NOT NULL DEFAULT 0,
            recurring_donors INTEGER NOT NULL DEFAULT 0,
            organisations INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE month_totals (
            month INTEGER NOT NULL,
            currency TEXT NOT NULL,
            donations INTEGER NOT NULL,
            amount INTEGER NOT NULL,
            PRIMARY KEY (month, currency)
        ) WITHOUT ROWID;
        -- Median and largest of a month walk this index, not the table.
        CREATE INDEX donations_month_amount ON donations (month, currency, amount)
            WHERE status = 'succeeded';
        INSERT INTO meta (key, value) VALUES ('rollups', 'stale')
            ON CONFLICT (key) DO UPDATE SET value = 'stale';
        """


_V3_REFUNDS_OUTBOX_ALERTS = """
        -- A refund that arrived before its donation waits here.
        CREATE TABLE pending_refunds (
            source TEXT NOT NULL,
            external_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('refunded', 'disputed')),
            PRIMARY KEY (source, external_id)
        ) WITHOUT ROWID;
        -- The outbox: one row per (kind, month, target); see bot/delivery.py.
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            month INTEGER NOT NULL,
            target TEXT NOT NULL,
            generation INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            message_ids TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (kind, month, target)
        );
        -- Milestones already announced live, so each is announced once.
        CREATE TABLE alerts (
            key TEXT PRIMARY KEY,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        """


_V4_MONTH_TIME_INDEX = """
        -- Goal periods cut months at arbitrary days: find a month's first and last donation,
        -- and sum a slice of a month, from the index alone.
        CREATE INDEX donations_month_time ON donations (month, received_at, currency, amount, donor_key)
            WHERE status = 'succeeded';
        """

_V5_AMOUNT_AND_PUBLIC_ROLLUPS = """
        -- A month's median and largest gift, and how many donors chose to be named, from
        -- rollups a few hundred rows long instead of the month's donations.
        CREATE TABLE month_amounts (
            month INTEGER NOT NULL,
            currency TEXT NOT NULL,
            amount INTEGER NOT NULL,
            donations INTEGER NOT NULL,
            PRIMARY KEY (month, currency, amount)
        ) WITHOUT ROWID;
        ALTER TABLE month_stats ADD COLUMN public_donations INTEGER NOT NULL DEFAULT 0;
        INSERT INTO meta (key, value) VALUES ('rollups', 'stale')
            ON CONFLICT (key) DO UPDATE SET value = 'stale';
        """

_V6_DROP_MONTH_AMOUNT_INDEX = """
        -- month_amounts answers what this index was for; one index fewer to update per donation.
        DROP INDEX IF EXISTS donations_month_amount;
        """

_V7_CHECKS_WITHOUT_IN_LISTS = """
        -- The same table with its CHECKs written without IN lists: SQLite builds a small
        -- table for an IN list each time an INSERT statement runs, which doubled the cost of
        -- storing a donation. SQLite cannot change a CHECK in place: the table is copied.
        ALTER TABLE donations RENAME TO donations_v6;
        CREATE TABLE donations (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            external_id TEXT NOT NULL,
            donor_key TEXT,
            display_name TEXT,
            message TEXT,
            amount INTEGER NOT NULL CHECK (amount >= 0),
            currency TEXT NOT NULL,
            received_at INTEGER NOT NULL,
            month INTEGER NOT NULL,
            recurring INTEGER NOT NULL DEFAULT 0,
            kind TEXT NOT NULL DEFAULT 'person' CHECK (kind = 'person' OR kind = 'organisation'),
            status TEXT NOT NULL DEFAULT 'succeeded'
                CHECK (status = 'succeeded' OR status = 'refunded' OR status = 'disputed'),
            UNIQUE (source, external_id)
        );
        INSERT INTO donations SELECT * FROM donations_v6 ORDER BY id;
        DROP TABLE donations_v6;
        CREATE INDEX donations_donor ON donations (donor_key, received_at) WHERE donor_key IS NOT NULL;
        CREATE INDEX donations_public ON donations (month, received_at) WHERE display_name IS NOT NULL;
        CREATE INDEX donations_month_time ON donations (month, received_at, currency, amount, donor_key)
            WHERE status = 'succeeded';
        """

_V8_PAYMENT_ALIASES = """
        -- One payment, one donation, whatever the route: every other id a donation is known
        -- by (another export's, a webhook's, an API's), so any of them finds it (bot/ledger/ids.py).
        CREATE TABLE donation_ids (
            source TEXT NOT NULL,
            external_id TEXT NOT NULL,
            donation INTEGER NOT NULL,
            PRIMARY KEY (source, external_id)
        ) WITHOUT ROWID;
        CREATE INDEX donation_ids_donation ON donation_ids (donation);
        -- Donations that routes sharing no id reconcile on donor, amount and time; ``routes``
        -- lists, as |route|, the routes that reported it.
        CREATE TABLE donation_matches (
            donation INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            donor_key TEXT NOT NULL,
            currency TEXT NOT NULL,
            amount INTEGER NOT NULL,
            received_at INTEGER NOT NULL,
            routes TEXT NOT NULL
        );
        CREATE INDEX donation_matches_key ON donation_matches (source, donor_key, currency, amount, received_at);
        """

_V9_SYNC_SOURCES = """
        -- Pull sources (donorbot sync): where each one's next sync starts, and how the last went.
        CREATE TABLE sync_sources (
            source TEXT PRIMARY KEY,
            cursor TEXT,
            last_attempt INTEGER,
            last_success INTEGER,
            last_error TEXT,
            syncs INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            stored INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        """

_V10_OUTBOX_OWNERS_AND_PARTS = """
        -- Who is sending a pending delivery, and until when that claim holds (see bot/outbox.py):
        -- a process takes a row with a compare-and-set on these columns, so two processes never
        -- send the same delivery. A claim whose holder died expires.
        ALTER TABLE deliveries ADD COLUMN owner TEXT;
        ALTER TABLE deliveries ADD COLUMN lease_until INTEGER;
        -- Each part of a delivery (a Discord message of a long bulletin, the chart...) as soon
        -- as it is posted, so a resend posts only the rest, under the same keys.
        CREATE TABLE delivery_parts (
            delivery INTEGER NOT NULL,
            generation INTEGER NOT NULL,
            part TEXT NOT NULL,
            message_id TEXT NOT NULL,
            sent_at INTEGER NOT NULL,
            PRIMARY KEY (delivery, generation, part)
        ) WITHOUT ROWID;
        """

MIGRATIONS: tuple[str, ...] = (
    _V1_DONATIONS,
    _V2_ROLLUPS,
    _V3_REFUNDS_OUTBOX_ALERTS,
    _V4_MONTH_TIME_INDEX,
    _V5_AMOUNT_AND_PUBLIC_ROLLUPS,
    _V6_DROP_MONTH_AMOUNT_INDEX,
    _V7_CHECKS_WITHOUT_IN_LISTS,
    _V8_PAYMENT_ALIASES,
    _V9_SYNC_SOURCES,
    _V10_OUTBOX_OWNERS_AND_PARTS,
)
LATEST = len(MIGRATIONS)

# The donations table's secondary indexes as the latest version has them (a test checks
# they match a migrated ledger). A large import drops them and builds them again at the
# end, inside its transaction: one sorted build is far cheaper than a million insertions
# at random places. The UNIQUE (source, external_id) index stays: it finds duplicates.
DONATION_INDEXES: dict[str, str] = {
    "donations_donor": "CREATE INDEX donations_donor ON donations (donor_key, received_at)"
    " WHERE donor_key IS NOT NULL",
    "donations_public": "CREATE INDEX donations_public ON donations (month, received_at)"
    " WHERE display_name IS NOT NULL",
    "donations_month_time": "CREATE INDEX donations_month_time ON donations"
    " (month, received_at, currency, amount, donor_key) WHERE status = 'succeeded'",
}


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, upto: int = LATEST) -> list[int]:
    """Bring ``db`` (autocommit mode) to version ``upto``; returns the versions applied."""
    current = schema_version(db)
    if current > LATEST:
        raise RuntimeError(
            f"the ledger is at schema version {current}, newer than this donorbot knows ({LATEST}); "
            "upgrade donorbot"
        )
    applied = []
    for version in range(current + 1, upto + 1):
        # executescript commits whatever is open before it runs, so the transaction
        # has to live inside the script itself.
        try:
            db.executescript(
                f"BEGIN IMMEDIATE;\n{MIGRATIONS[version - 1]}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
