"""The one routine that keeps the rollups equal to the donations.

Every change to what counts (a donation stored, refunded, detached from its
donor, or the whole ledger rebuilt) is expressed as rows of ``temp.delta``:
``(donation id, +1)`` when a donation starts counting and ``(id, -1)`` when it
stops. :data:`APPLY_DELTA` then updates, set-based and inside the caller's
transaction, the per-(month, donor), per-donor and per-month tables.

When a change touches a large part of the ledger (a first import, a time-zone
change, a schema upgrade), :data:`REBUILD` computes the rollups from scratch
instead: a few sorted scans, several times faster than a delta of that size.

A ``-1`` must be applied while the donation row still has the month and donor it
was counted under: callers record the ``-1`` before changing a row, apply, then
record the ``+1`` after (see ``forget``).
"""

from __future__ import annotations

__all__ = ["APPLY_DELTA", "CLEAR_ROLLUPS", "PREPARE", "REBUILD"]

PREPARE = (
    "CREATE TEMP TABLE IF NOT EXISTS delta (id INTEGER PRIMARY KEY, sign INTEGER NOT NULL)",
    "CREATE TEMP TABLE IF NOT EXISTS pairs (month INTEGER, donor_key TEXT, present0 INTEGER,"
    " recurring0 INTEGER, org0 INTEGER, PRIMARY KEY (month, donor_key))",
    "CREATE TEMP TABLE IF NOT EXISTS touched (donor_key TEXT PRIMARY KEY, first0 INTEGER, second0 INTEGER)",
)

CLEAR_ROLLUPS = (
    "DELETE FROM donor_months",
    "DELETE FROM donors",
    "DELETE FROM month_stats",
    "DELETE FROM month_totals",
    "DELETE FROM month_amounts",
)

# Every rollup from the donations alone (after CLEAR_ROLLUPS). Scans read the table itself
# (NOT INDEXED: walking an index would fetch each row at random) and rows go into each
# rollup in its key order; the donor_months index is built once its table is full.
REBUILD = (
    "DROP INDEX IF EXISTS donor_months_donor",
    """
    INSERT INTO donor_months (month, donor_key, donations, recurring, organisation)
    SELECT month, donor_key, count(*), sum(recurring), sum(kind = 'organisation')
    FROM donations NOT INDEXED
    WHERE status = 'succeeded' AND donor_key IS NOT NULL
    GROUP BY month, donor_key
    ORDER BY month, donor_key
    """,
    "CREATE INDEX donor_months_donor ON donor_months (donor_key, month)",
    # With a single min(), SQLite takes the bare column ``donations`` from the row holding
    # the minimum: the first month's count. Only donors seen in several months need the
    # index again, for their second and last months.
    """
    INSERT INTO donors (donor_key, first_month, second_month, last_month, donations)
    SELECT donor_key, first,
           CASE
               WHEN first_count >= 2 THEN first
               WHEN months > 1 THEN (
                   SELECT min(m.month) FROM donor_months m WHERE m.donor_key = g.donor_key AND m.month > g.first
               )
           END,
           CASE
               WHEN months = 1 THEN first
               ELSE (SELECT max(m.month) FROM donor_months m WHERE m.donor_key = g.donor_key)
           END,
           total
    FROM (
        SELECT donor_key, min(month) AS first, donations AS first_count, count(*) AS months,
               sum(donations) AS total
        FROM donor_months INDEXED BY donor_months_donor
        GROUP BY donor_key
    ) AS g
    ORDER BY donor_key
    """,
    # One scan for the money: per (month, currency, amount, anonymous, named), then the
    # three per-month tables from that (a few thousand rows).
    """
    CREATE TEMP TABLE rebuilt_amounts AS
    SELECT month, currency, amount, donor_key IS NULL AS anonymous, display_name IS NOT NULL AS named,
           count(*) AS n
    FROM donations NOT INDEXED
    WHERE status = 'succeeded'
    GROUP BY 1, 2, 3, 4, 5
    """,
    """
    INSERT INTO month_amounts (month, currency, amount, donations)
    SELECT month, currency, amount, sum(n) FROM temp.rebuilt_amounts GROUP BY month, currency, amount
    """,
    """
    INSERT INTO month_totals (month, currency, donations, amount)
    SELECT month, currency, sum(n), sum(n * amount) FROM temp.rebuilt_amounts GROUP BY month, currency
    """,
    """
    INSERT INTO month_stats (month, donations, anonymous, public_donations)
    SELECT month, sum(n), sum(n * anonymous), sum(n * named) FROM temp.rebuilt_amounts GROUP BY month
    """,
    "DROP TABLE temp.rebuilt_amounts",
    """
    UPDATE month_stats SET donors = s.donors, recurring_donors = s.recurring, organisations = s.organisations
    FROM (
        SELECT month, count(*) AS donors, sum(recurring > 0) AS recurring, sum(organisation > 0) AS organisations
        FROM donor_months GROUP BY month
    ) AS s
    WHERE month_stats.month = s.month
    """,
    """
    UPDATE month_stats SET new_donors = s.n
    FROM (SELECT first_month AS month, count(*) AS n FROM donors GROUP BY first_month) AS s
    WHERE month_stats.month = s.month
    """,
    """
    UPDATE month_stats SET repeat_donors = s.n
    FROM (
        SELECT second_month AS month, count(*) AS n FROM donors
        WHERE second_month IS NOT NULL GROUP BY second_month
    ) AS s
    WHERE month_stats.month = s.month
    """,
)

APPLY_DELTA = (
    # The (month, donor) pairs and donors this change touches, with their state before.
    """
    INSERT INTO temp.pairs (month, donor_key, present0, recurring0, org0)
    SELECT p.month, p.donor_key,
           coalesce(dm.donations > 0, 0), coalesce(dm.recurring > 0, 0), coalesce(dm.organisation > 0, 0)
    FROM (SELECT DISTINCT d.month, d.donor_key
          FROM temp.delta x JOIN donations d ON d.id = x.id
          WHERE d.donor_key IS NOT NULL) AS p
    LEFT JOIN donor_months dm ON dm.month = p.month AND dm.donor_key = p.donor_key
    """,
    """
    INSERT INTO temp.touched (donor_key, first0, second0)
    SELECT t.donor_key, d.first_month, d.second_month
    FROM (SELECT DISTINCT donor_key FROM temp.pairs) AS t
    LEFT JOIN donors d ON d.donor_key = t.donor_key
    """,
    # Money and donation counts per month.
    """
    INSERT INTO month_totals (month, currency, donations, amount)
    SELECT d.month, d.currency, sum(x.sign), sum(x.sign * d.amount)
    FROM temp.delta x JOIN donations d ON d.id = x.id
    WHERE true
    GROUP BY d.month, d.currency
    ON CONFLICT (month, currency) DO UPDATE SET
        donations = donations + excluded.donations, amount = amount + excluded.amount
    """,
    """
    INSERT INTO month_stats (month, donations, anonymous, public_donations)
    SELECT d.month, sum(x.sign), sum(x.sign * (d.donor_key IS NULL)), sum(x.sign * (d.display_name IS NOT NULL))
    FROM temp.delta x JOIN donations d ON d.id = x.id
    WHERE true
    GROUP BY d.month
    ON CONFLICT (month) DO UPDATE SET
        donations = donations + excluded.donations, anonymous = anonymous + excluded.anonymous,
        public_donations = public_donations + excluded.public_donations
    """,
    # How many gifts of each amount (a month's median and largest walk this, not the donations).
    """
    INSERT INTO month_amounts (month, currency, amount, donations)
    SELECT d.month, d.currency, d.amount, sum(x.sign)
    FROM temp.delta x JOIN donations d ON d.id = x.id
    WHERE true
    GROUP BY d.month, d.currency, d.amount
    ON CONFLICT (month, currency, amount) DO UPDATE SET donations = donations + excluded.donations
    """,
    "DELETE FROM month_amounts WHERE donations = 0",
    # Per (month, donor).
    """
    INSERT INTO donor_months (month, donor_key, donations, recurring, organisation)
    SELECT d.month, d.donor_key, sum(x.sign), sum(x.sign * d.recurring),
           sum(x.sign * (d.kind = 'organisation'))
    FROM temp.delta x JOIN donations d ON d.id = x.id
    WHERE d.donor_key IS NOT NULL
    GROUP BY d.month, d.donor_key
    ON CONFLICT (month, donor_key) DO UPDATE SET
        donations = donations + excluded.donations,
        recurring = recurring + excluded.recurring,
        organisation = organisation + excluded.organisation
    """,
    """
    DELETE FROM donor_months
    WHERE donations <= 0 AND (month, donor_key) IN (SELECT month, donor_key FROM temp.pairs)
    """,
    """
    INSERT INTO month_stats (month, donors, recurring_donors, organisations)
    SELECT p.month,
           sum(coalesce(dm.donations > 0, 0) - p.present0),
           sum(coalesce(dm.recurring > 0, 0) - p.recurring0),
           sum(coalesce(dm.organisation > 0, 0) - p.org0)
    FROM temp.pairs p
    LEFT JOIN donor_months dm ON dm.month = p.month AND dm.donor_key = p.donor_key
    WHERE true
    GROUP BY p.month
    ON CONFLICT (month) DO UPDATE SET
        donors = donors + excluded.donors,
        recurring_donors = recurring_donors + excluded.recurring_donors,
        organisations = organisations + excluded.organisations
    """,
    # Per donor: first month (a new donor then), second donation's month (gave more than once).
    "DELETE FROM donors WHERE donor_key IN (SELECT donor_key FROM temp.touched)",
    """
    INSERT INTO donors (donor_key, first_month, second_month, last_month, donations)
    SELECT donor_key, min(month), min(CASE WHEN cum >= 2 THEN month END), max(month), max(cum)
    FROM (
        SELECT dm.donor_key, dm.month,
               sum(dm.donations) OVER (PARTITION BY dm.donor_key ORDER BY dm.month) AS cum
        FROM temp.touched t JOIN donor_months dm ON dm.donor_key = t.donor_key
    )
    GROUP BY donor_key
    """,
    """
    INSERT INTO month_stats (month, new_donors, repeat_donors)
    SELECT month, sum(new), sum(rep) FROM (
        SELECT first0 AS month, -1 AS new, 0 AS rep FROM temp.touched WHERE first0 IS NOT NULL
        UNION ALL
        SELECT second0, 0, -1 FROM temp.touched WHERE second0 IS NOT NULL
        UNION ALL
        SELECT d.first_month, 1, 0 FROM temp.touched t JOIN donors d ON d.donor_key = t.donor_key
        UNION ALL
        SELECT d.second_month, 0, 1 FROM temp.touched t JOIN donors d ON d.donor_key = t.donor_key
        WHERE d.second_month IS NOT NULL
    )
    WHERE true
    GROUP BY month
    ON CONFLICT (month) DO UPDATE SET
        new_donors = new_donors + excluded.new_donors,
        repeat_donors = repeat_donors + excluded.repeat_donors
    """,
    "DELETE FROM month_totals WHERE donations = 0 AND amount = 0",
    """
    DELETE FROM month_stats WHERE donations = 0 AND donors = 0 AND anonymous = 0 AND new_donors = 0
        AND repeat_donors = 0
    """,
    "DELETE FROM temp.delta",
    "DELETE FROM temp.pairs",
    "DELETE FROM temp.touched",
)
