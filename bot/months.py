"""Calendar months in the project's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

__all__ = ["Month", "month_of"]

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month. Stored in SQLite as the integer ``year * 100 + month``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, got {self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``; raises ValueError with a readable message."""
        match = _MONTH_RE.match(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValueError(f"{text!r} is not a month (expected YYYY-MM, e.g. 2025-12)")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def from_key(cls, key: int) -> Month:
        return cls(key // 100, key % 100)

    @property
    def key(self) -> int:
        return self.year * 100 + self.month

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def prev(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def start(self, tz: ZoneInfo) -> datetime:
        """The first instant of the month in ``tz``, as an aware UTC datetime."""
        return datetime.combine(self.first_day(), time(), tz).astimezone(UTC)

    def end(self, tz: ZoneInfo) -> datetime:
        """The first instant of the next month (exclusive end), aware UTC."""
        return self.next().start(tz)


def month_of(moment: datetime, tz: ZoneInfo) -> Month:
    """The month ``moment`` (aware) falls in, seen from ``tz``."""
    if moment.tzinfo is None:
        raise ValueError("month_of needs an aware datetime")
    local = moment.astimezone(tz)
    return Month(local.year, local.month)
