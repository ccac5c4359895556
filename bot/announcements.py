"""What the bot announces besides replies: bulletins, milestone alerts, thanks.

Every announcement is a ``deliveries`` row (see :mod:`bot.outbox`) whose
``kind`` says how to rebuild its message, so a delivery left pending by a crash
or an outage is rebuilt and sent later with the same idempotency key:

- ``bulletin``: the month's news bulletin;
- ``alert:<milestone>``: a milestone crossed, e.g. ``alert:monthly_donors:1000``,
  ``alert:total_amount:1000000``, ``alert:goal:<goal name>``;
- ``thanks:<donation id>``: thanks to one public donor.

Milestones are found by comparing what the ledger has reached with the
``alerts`` table. The first time (an empty table) everything already reached
is recorded silently: starting the bot on an old ledger must not replay years
of milestones.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot.chat.message import Message
from bot.config import Target
from bot.ledger.models import NewDonation
from bot.months import Month
from bot.news.report import MilestoneHit
from bot.outbox import Outbox, OwedRow

if TYPE_CHECKING:
    from bot.core import Core

__all__ = [
    "BULLETIN",
    "GoalReached",
    "message_for",
    "owe_alerts",
    "owe_thanks",
    "reached_milestones",
]

BULLETIN = "bulletin"
_BASELINE = "_baseline"


@dataclass(frozen=True, slots=True)
class GoalReached:
    """A goal's amount (or donors) reached: an alert like a milestone's."""

    name: str
    title: str
    kind: str = "goal"


Milestone = MilestoneHit | GoalReached


def _key(hit: Milestone) -> str:
    if isinstance(hit, GoalReached):
        return f"goal:{hit.name}"
    return f"{hit.kind}:{hit.threshold}"


async def reached_milestones(core: Core, now: datetime | None = None) -> dict[str, tuple[Month, Milestone]]:
    """Every milestone reached so far, by key, with the month it was reached in."""
    reached: dict[str, tuple[Month, Milestone]] = {}
    for month, hit in await core.milestones_reached():
        reached.setdefault(_key(hit), (month, hit))
    this_month = core.this_month(now)
    for goal in await core.goals_now(now):
        if goal.percent >= 100:
            reached_goal = GoalReached(goal.name, goal.title)
            reached.setdefault(_key(reached_goal), (this_month, reached_goal))
    return reached


async def owe_alerts(core: Core, targets: Sequence[Target], now: datetime | None = None) -> list[str]:
    """Record newly reached milestones and a pending alert for each opted-in target.

    Returns the new milestone keys. Milestone and deliveries are written in one
    transaction: a crash leaves either nothing (found again next time) or
    pending deliveries (sent next time), never an alert forgotten.
    """
    reached = await reached_milestones(core, now)
    stamp = int(now.timestamp()) if now is not None else int(time.time())
    async with core.ledger.writing() as db:
        cursor = await db.execute("SELECT key FROM alerts")
        known = {row[0] for row in await cursor.fetchall()}
        fresh = [key for key in reached if key not in known]
        baseline = _BASELINE not in known
        rows = [(key, stamp) for key in fresh] + ([(_BASELINE, stamp)] if baseline else [])
        await db.executemany("INSERT OR IGNORE INTO alerts (key, created_at) VALUES (?, ?)", rows)
        if baseline:
            return []
        await Outbox.owe_in(
            db,
            [
                OwedRow(f"alert:{key}", reached[key][0], target.name)
                for key in fresh
                for target in targets
                if target.enabled and target.alerts
            ],
            stamp,
        )
    return fresh


async def owe_thanks(
    core: Core, items: Iterable[object], targets: Sequence[Target], now: datetime | None = None
) -> int:
    """Pending thanks for each public donation among ``items`` (just stored), per opted-in target."""
    wanted = [t for t in targets if t.enabled and t.thanks]
    donations = [d for d in items if isinstance(d, NewDonation) and d.public and d.display_name]
    if not wanted or not donations:
        return 0
    stamp = int(now.timestamp()) if now is not None else int(time.time())
    rows: list[OwedRow] = []
    async with core.ledger.writing() as db:
        for donation in donations:
            cursor = await db.execute(
                "SELECT id, month FROM donations WHERE source = ? AND external_id = ?"
                " AND status = 'succeeded' AND display_name IS NOT NULL",
                (donation.source, donation.external_id),
            )
            found = await cursor.fetchone()
            if found is not None:
                rows += [OwedRow(f"thanks:{found[0]}", Month.from_key(found[1]), t.name) for t in wanted]
        await Outbox.owe_in(db, rows, stamp)
    return len(rows)


def _milestone_of(core: Core, name: str) -> Milestone | None:
    kind, _, value = name.partition(":")
    if kind == "goal":
        goal = next((g for g in core.config.goals if g.name == value), None)
        return GoalReached(goal.name, goal.title) if goal else None
    if kind == "total_amount":
        return MilestoneHit(kind, Decimal(value))
    if kind in ("monthly_donors", "total_donors") and value.isdigit():
        return MilestoneHit(kind, int(value))
    return None


async def _thanks_values(core: Core, donation_id: int) -> dict[str, Any] | None:
    rows = await core.ledger.query(
        "SELECT d.display_name, d.message,"
        " CASE WHEN d.donor_key IS NULL THEN 1 ELSE ("
        "   SELECT count(*) FROM donations p WHERE p.donor_key = d.donor_key"
        "   AND p.status = 'succeeded' AND (p.received_at, p.id) <= (d.received_at, d.id)) END"
        " FROM donations d WHERE d.id = ? AND d.status = 'succeeded' AND d.display_name IS NOT NULL",
        (donation_id,),
    )
    if not rows:
        return None
    name, message, ordinal = rows[0]
    return {"name": name, "message": message, "ordinal": ordinal}


class Unbuildable(Exception):
    """The delivery's message cannot be built any more (donor forgotten, goal removed)."""


async def message_for(core: Core, kind: str, month: Month, locale: str) -> Message:
    """Rebuild the message of a delivery row.

    Raises:
        Unbuildable: what it announced is gone (a forgotten donor, a goal removed from the config).
    """
    if kind == BULLETIN:
        return await core.bulletin(month, locale)
    family, _, rest = kind.partition(":")
    if family == "alert":
        milestone = _milestone_of(core, rest)
        if milestone is None:
            raise Unbuildable(f"unknown milestone {rest!r}")
        return core.renderer.reply("alert", locale, milestone=milestone)
    if family == "thanks" and rest.isdigit():
        values = await _thanks_values(core, int(rest))
        if values is None:
            raise Unbuildable("the donation is no longer public (refunded or forgotten)")
        return core.renderer.reply("thanks", locale, donation=values)
    raise Unbuildable(f"unknown kind of delivery {kind!r}")
