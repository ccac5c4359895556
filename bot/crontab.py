"""Crontab expressions as crontab(5) defines them, evaluated on a naive wall clock.

Five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
``jan``-``dec``) and day of week (0-7, where both 0 and 7 are Sunday, or
``sun``-``sat``); names are case-insensitive. Each field is ``*``, a number, a
range ``a-b``, a step over either (``*/15``, ``1-10/2``) or a comma-separated list
of those. Names may stand in ranges and lists (``mon-fri``), as in Debian's and
cronie's cron. A step needs a range or ``*`` before it: ``5/15`` is refused, as
by Vixie cron.

Day of month and day of week: when both fields are restricted, a day matching
*either* fires (``0 10 1 * mon`` fires on the 1st and on every Monday). A field
that starts with ``*`` (``*`` or ``*/2``) counts as unrestricted, as in Vixie
cron's code, so ``0 0 */2 * mon`` fires on Mondays that are odd days.

Specials: ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
(``@midnight``) and ``@hourly``. ``@reboot`` is refused: a bulletin is due on a
date, not at start-up.

This module knows nothing of time zones: :class:`Crontab` answers "the next wall
time that matches"; ``bot.schedule`` turns wall times into instants.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Crontab", "CrontabError", "parse_crontab"]

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_SPECIALS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (name, lowest, highest, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_SEARCH_YEARS = 29  # a day-of-month/month pair that exists at all exists within 28 years (29 February)


class CrontabError(ValueError):
    """An expression crontab(5) would refuse; the message names the field."""


@dataclass(frozen=True, slots=True)
class Crontab:
    """A parsed expression: the allowed values of each field."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday (7 folded into 0)
    days_star: bool
    weekdays_star: bool

    def day_matches(self, year: int, month: int, day: int) -> bool:
        """Whether the date fires, with crontab(5)'s day-of-month / day-of-week rule."""
        weekday = (calendar.weekday(year, month, day) + 1) % 7  # Python's Monday=0 to cron's Sunday=0
        in_days = day in self.days
        in_weekdays = weekday in self.weekdays
        if self.days_star or self.weekdays_star:
            return in_days and in_weekdays
        return in_days or in_weekdays

    def next_after(self, wall: datetime) -> datetime | None:
        """The first matching wall time (naive, whole minute) strictly after ``wall``.

        ``None`` when the expression never fires (``0 0 30 2 *``).
        """
        start = wall.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        first = True
        end_year = start.year + _SEARCH_YEARS
        while day.year <= end_year:
            if day.month not in self.months:
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                first = False
                continue
            if self.day_matches(day.year, day.month, day.day):
                from_hour, from_minute = (start.hour, start.minute) if first else (0, 0)
                for hour in sorted(h for h in self.hours if h >= from_hour):
                    low = from_minute if hour == from_hour else 0
                    minute = min((m for m in self.minutes if m >= low), default=None)
                    if minute is not None:
                        return datetime(day.year, day.month, day.day, hour, minute)
            day += timedelta(days=1)
            first = False
        return None


def _number(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.lower())
    if value is None:
        if not text.isdigit() or not text.isascii():
            raise CrontabError(f"{field}: {text!r} is not a number" + (" or a name" if names else ""))
        value = int(text)
    if not low <= value <= high:
        raise CrontabError(f"{field}: {value} is outside {low}-{high}")
    return value


def _field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CrontabError(f"{field}: empty item in {text!r}")
        body, slash, step_text = item.partition("/")
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            first = _number(a, field, low, high, names)
            last = _number(b, field, low, high, names)
            if first > last:
                raise CrontabError(f"{field}: range {body!r} runs backwards")
        else:
            if slash:
                raise CrontabError(f"{field}: a step needs a range or * before it ({item!r})")
            first = last = _number(body, field, low, high, names)
        step = 1
        if slash:
            if not step_text.isdigit() or not step_text.isascii() or int(step_text) == 0:
                raise CrontabError(f"{field}: step {step_text!r} is not a positive number")
            step = int(step_text)
        values.update(range(first, last + 1, step))
    return frozenset(values)


def parse_crontab(expression: str) -> Crontab:
    """Parse a five-field expression or a special; :class:`CrontabError` says what is wrong."""
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() == "@reboot":
            raise CrontabError("@reboot is not a date: give the time a bulletin is due")
        if text.lower() not in _SPECIALS:
            raise CrontabError(f"unknown special {text!r} (known: {', '.join(sorted(_SPECIALS))})")
        text = _SPECIALS[text.lower()]
    parts = text.split()
    if len(parts) != 5:
        raise CrontabError(
            f"{len(parts)} fields where crontab has five (minute hour day-of-month month day-of-week)"
        )
    sets = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return Crontab(
        expression=expression,
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        days_star=parts[2].startswith("*"),
        weekdays_star=parts[4].startswith("*"),
    )
