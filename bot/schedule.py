"""When bulletins are due: cron expressions read on the project's wall clock.

A cron line means local time ("10:00 on the 1st, in Paris"), with crontab(5)'s
syntax and rules (``bot.crontab``). :class:`LocalCron` finds the next matching
wall time and maps it to one instant, as Debian's cron does across a
daylight-saving change: a wall time that happens twice (the autumn's repeated
hour) fires on its first occurrence only; one that does not exist (the spring
gap) fires at the end of the gap, the first instant after it, once however many
of its times matched. So a daylight-saving change never skips nor doubles a run.

The time maths takes ``now`` as an argument so it is tested without waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from bot.config import Config, Target
from bot.crontab import parse_crontab
from bot.months import Month

__all__ = ["DueRun", "LocalCron", "cron_of", "due_runs", "month_reported", "next_runs", "trigger_of"]

_SEARCH_LIMIT = 100_000  # wall times examined before giving up (a cron that never fires)


class LocalCron(BaseTrigger):  # type: ignore[misc]
    """A crontab line evaluated on ``tz``'s wall clock (see the module docstring)."""

    def __init__(self, expression: str, tz: tzinfo) -> None:
        self.expression = expression
        self.tz = tz
        self._wall = parse_crontab(expression)

    def __repr__(self) -> str:
        return f"LocalCron({self.expression!r}, {self.tz})"

    def instant_of(self, wall: datetime) -> datetime:
        """The one instant (UTC) a naive wall time fires at in ``tz``."""
        first = wall.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        if first.astimezone(self.tz).replace(tzinfo=None) == wall:
            return first  # exists; fold=0 is the first of a repeated time
        # In a gap: fold=0 read it with the offset before the change, which lands past the
        # gap; the gap ends at the change itself, found by bisection (offsets change on whole seconds).
        low = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        high, after = first, first.astimezone(self.tz).utcoffset()
        while high - low > timedelta(seconds=1):
            mid = low + (high - low) / 2
            if mid.astimezone(self.tz).utcoffset() == after:
                high = mid
            else:
                low = mid
        return high.replace(microsecond=0)

    def _instants(self, after: datetime) -> Iterator[datetime]:
        """Fire instants strictly after ``after`` (aware), in order."""
        # Start a few hours back on the wall clock: a wall time just before ``after``'s may
        # map to an instant after it (a gap's times fire at its end).
        wall: datetime | None = after.astimezone(self.tz).replace(tzinfo=None) - timedelta(hours=3)
        last = after
        for _ in range(_SEARCH_LIMIT):
            assert wall is not None
            wall = self._wall.next_after(wall)
            if wall is None:
                return
            instant = self.instant_of(wall)
            if instant > last:
                last = instant
                yield instant.astimezone(self.tz)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = now - timedelta(microseconds=1)  # "now" itself may fire
        if previous_fire_time is not None:
            after = max(after, previous_fire_time)
        return next(self._instants(after), None)


def cron_of(config: Config, target: Target) -> str:
    """The target's own cron, else the project's."""
    return target.cron or config.schedule.cron


def trigger_of(config: Config, target: Target) -> LocalCron:
    return LocalCron(cron_of(config, target), ZoneInfo(config.project.timezone))


def next_runs(trigger: LocalCron, now: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` fire times after ``now``."""
    out: list[datetime] = []
    for instant in trigger._instants(now):
        out.append(instant)
        if len(out) == count:
            break
    return out


def month_reported(fire_time: datetime, tz: tzinfo) -> Month:
    """A run reports the last month complete at its fire time, in the project's zone."""
    local = fire_time.astimezone(tz)
    return Month(local.year, local.month).prev()


@dataclass(frozen=True, slots=True)
class DueRun:
    target: str
    fire_time: datetime
    month: Month


def due_runs(config: Config, now: datetime, targets: list[Target] | None = None) -> list[DueRun]:
    """For each target, its latest scheduled run within ``catch_up_days`` before ``now``.

    These are the runs a bot that was down may still owe; the outbox tells whether
    they were delivered, so posting them again is harmless.
    """
    tz = ZoneInfo(config.project.timezone)
    window = timedelta(days=config.schedule.catch_up_days)
    due: list[DueRun] = []
    for target in targets if targets is not None else config.targets:
        if not target.enabled:
            continue
        latest: datetime | None = None
        for instant in trigger_of(config, target)._instants(now - window):
            if instant > now:
                break
            latest = instant
        if latest is not None:
            due.append(DueRun(target.name, latest, month_reported(latest, tz)))
    return due
