"""The one range of dates a donation may have, shared by every parser and the ledger.

Earliest: 2 January 1970 UTC, a day after the Unix epoch, so that every stored
second is positive and falls in a month of 1970 or later in every time zone.
Latest: now plus :data:`CLOCK_SKEW`. A donation cannot be dated in the future; a
platform's clock or ours may be a little off, and an export whose times are read
in the wrong zone is off by hours, so a day of slack is allowed and nothing more
(a donation dated 2080 is refused: it would be counted in every all-time figure
for fifty years).

Webhook parsers answer 400 for a date outside, importers make it a row error,
and the ledger refuses it whatever the route.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

__all__ = ["CLOCK_SKEW", "EARLIEST", "EARLIEST_SECONDS", "date_problem", "latest_seconds"]

EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
EARLIEST_SECONDS = int(EARLIEST.timestamp())
CLOCK_SKEW = timedelta(days=1)
_SKEW_SECONDS = int(CLOCK_SKEW.total_seconds())


def latest_seconds(now: float | None = None) -> int:
    """The latest Unix second a donation may have, given ``now`` (default: the system clock)."""
    return int(time.time() if now is None else now) + _SKEW_SECONDS


def date_problem(moment: datetime, now: float | None = None) -> str | None:
    """Why ``moment`` (aware) cannot be a donation's date, or ``None`` when it can.

    The answer names the range, never the person: it is safe in logs and HTTP answers.
    """
    if moment.tzinfo is None:
        return "has no time zone"
    try:
        seconds = moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return "is outside the years a donation can have"
    if seconds < EARLIEST_SECONDS:
        return "is before 2 January 1970"
    if seconds > latest_seconds(now):
        return f"is in the future (more than {_skew_text()} ahead of this machine's clock)"
    return None


def _skew_text() -> str:
    hours = _SKEW_SECONDS // 3600
    return "a day" if hours == 24 else f"{hours} h"
