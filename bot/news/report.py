"""A month's report, from the rollups: no scan of history.

Refunded and disputed donations never count: the rollups only hold succeeded
ones. An anonymous donation (no donor identity) counts as one donor; it is
neither new nor returning, since nobody can tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Config, Goal
from bot.ledger.store import Ledger, MonthRow, PublicDonation
from bot.money import minor_digits, to_decimal
from bot.months import Month

__all__ = [
    "Change",
    "GoalProgress",
    "MilestoneHit",
    "MonthFigures",
    "MonthReport",
    "build_report",
    "goal_progress",
    "month_history",
]

# A month is only "a record" once there is something to beat.
RECORD_MIN_HISTORY = 2


@dataclass(frozen=True, slots=True)
class Change:
    """This month's figure against an earlier one (None when there is no earlier figure)."""

    previous: int | None
    current: int

    @property
    def delta(self) -> int | None:
        return None if self.previous is None else self.current - self.previous

    @property
    def percent(self) -> float | None:
        if not self.previous:
            return None
        return (self.current - self.previous) * 100 / self.previous


@dataclass(frozen=True, slots=True)
class MilestoneHit:
    kind: str  # "monthly_donors", "total_donors", "total_amount"
    threshold: Decimal | int


@dataclass(frozen=True, slots=True)
class GoalProgress:
    name: str
    title: str
    start: date
    end: date
    currency: str
    target_amount: int | None  # minor units of ``currency``
    reached_amount: int
    target_donors: int | None
    reached_donors: int
    # Given in currencies without a configured rate (minor units of each): not in reached_amount.
    unconverted: dict[str, int] = field(default_factory=dict)

    @property
    def percent(self) -> float:
        """Amount progress when the goal has an amount, else donors progress."""
        if self.target_amount:
            return self.reached_amount * 100 / self.target_amount
        if self.target_donors:
            return self.reached_donors * 100 / self.target_donors
        return 0.0

    @property
    def reached(self) -> bool:
        amount_ok = self.target_amount is None or self.reached_amount >= self.target_amount
        donors_ok = self.target_donors is None or self.reached_donors >= self.target_donors
        return amount_ok and donors_ok

    @property
    def amount_left(self) -> int | None:
        return None if self.target_amount is None else max(self.target_amount - self.reached_amount, 0)

    @property
    def donors_left(self) -> int | None:
        return None if self.target_donors is None else max(self.target_donors - self.reached_donors, 0)


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """One month in a history series (charts)."""

    month: Month
    donors: int
    new_donors: int
    returning_donors: int
    total_base: int | None


@dataclass(frozen=True)
class MonthReport:
    month: Month
    base_currency: str
    donors: int  # identified donors + anonymous donations
    anonymous: int
    new_donors: int
    returning_donors: int
    recurring_donors: int
    organisations: int
    donations: int
    totals: dict[str, int]  # currency -> minor units
    total_base: int | None  # minor units of the base currency, over the currencies with a rate
    unconverted: list[str]  # currencies without a rate, left out of total_base
    median_base: int | None
    largest_base: int | None
    donors_vs_previous: Change
    donors_vs_year_ago: Change
    total_vs_previous: Change | None
    total_vs_year_ago: Change | None
    records: list[str]  # "donors", "total", "donors_year", "total_year"
    previous_record_donors: int | None
    milestones: list[MilestoneHit]
    goals: list[GoalProgress]
    all_time_donors: int
    all_time_repeat_donors: int
    all_time_total_base: int | None
    public_donations: list[PublicDonation] = field(default_factory=list)
    public_count: int = 0

    @property
    def is_empty(self) -> bool:
        return self.donations == 0

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON object (what ``donorbot stats --json`` prints)."""

        def dec(minor: int | None, currency: str) -> str | None:
            return None if minor is None else str(to_decimal(minor, currency))

        base = self.base_currency
        return {
            "month": str(self.month),
            "donors": self.donors,
            "new_donors": self.new_donors,
            "returning_donors": self.returning_donors,
            "anonymous_donors": self.anonymous,
            "recurring_donors": self.recurring_donors,
            "organisations": self.organisations,
            "donations": self.donations,
            "totals": {code: dec(amount, code) for code, amount in sorted(self.totals.items())},
            "base_currency": base,
            "total_base": dec(self.total_base, base),
            "unconverted_currencies": self.unconverted,
            "median_donation_base": dec(self.median_base, base),
            "largest_donation_base": dec(self.largest_base, base),
            "donors_vs_previous_month": self.donors_vs_previous.delta,
            "donors_vs_year_ago": self.donors_vs_year_ago.delta,
            "records": self.records,
            "milestones": [
                {
                    "kind": m.kind,
                    "threshold": m.threshold if isinstance(m.threshold, int) else str(m.threshold),
                }
                for m in self.milestones
            ],
            "goals": [
                {
                    "name": g.name,
                    "target": dec(g.target_amount, g.currency)
                    if g.target_amount is not None
                    else g.target_donors,
                    "reached": dec(g.reached_amount, g.currency)
                    if g.target_amount is not None
                    else g.reached_donors,
                    "percent": round(g.percent, 1),
                    "target_donors": g.target_donors,
                    "reached_donors": g.reached_donors if g.target_donors else None,  # counted only then
                    "unconverted": {code: dec(amount, code) for code, amount in g.unconverted.items()},
                }
                for g in self.goals
            ],
            "all_time": {
                "donors": self.all_time_donors,
                "donors_more_than_once": self.all_time_repeat_donors,
                "total_base": dec(self.all_time_total_base, base),
            },
            "public_donors_listed": len(self.public_donations),
        }


class Converter:
    """Minor units of any configured currency to minor units of the base currency."""

    def __init__(self, config: Config) -> None:
        self.base = config.project.base_currency
        self._factors: dict[str, Decimal] = {self.base: Decimal(1)}
        base_digits = minor_digits(self.base)
        for code, rate in config.project.rates.items():
            self._factors[code] = rate * Decimal(10) ** (base_digits - minor_digits(code))

    def can(self, currency: str) -> bool:
        return currency in self._factors

    def __call__(self, minor: int, currency: str) -> int:
        value = Decimal(minor) * self._factors[currency]
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

    def total(self, amounts: dict[str, int]) -> tuple[int | None, list[str]]:
        known = [(code, amount) for code, amount in amounts.items() if self.can(code)]
        unknown = sorted(code for code in amounts if not self.can(code))
        if not known and unknown:
            return None, unknown
        return sum(self(amount, code) for code, amount in known), unknown


def _median_and_largest(
    histogram: dict[str, list[tuple[int, int]]], convert: Converter
) -> tuple[int | None, int | None]:
    values: list[tuple[int, int]] = []
    for currency, buckets in histogram.items():
        if convert.can(currency):
            values.extend((convert(amount, currency), count) for amount, count in buckets)
    if not values:
        return None, None
    values.sort()
    total = sum(count for _, count in values)
    # Lower median for an even count: a donation that really happened, never an average of two.
    middle = (total - 1) // 2
    seen = 0
    median = values[-1][0]
    for amount, count in values:
        seen += count
        if seen > middle:
            median = amount
            break
    return median, values[-1][0]


def _goal_window(goal: Goal, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(goal.start, time(), tz).astimezone(UTC)
    end = datetime.combine(goal.end + timedelta(days=1), time(), tz).astimezone(UTC)
    return start, end


async def goal_progress(ledger: Ledger, config: Config, goal: Goal, until: datetime) -> GoalProgress:
    """Progress of ``goal`` counting donations up to ``until`` (clipped to the goal's dates)."""
    start, end = _goal_window(goal, config.project.tz)
    stop = min(end, until)
    convert = Converter(config)
    base = config.project.base_currency
    if stop <= start:
        amounts: dict[str, int] = {}
        donors = 0
    else:
        amounts, donors = await ledger.period_figures(start, stop, donors=goal.donors is not None)
    reached, _ = convert.total(amounts)
    unconverted = {code: amount for code, amount in sorted(amounts.items()) if not convert.can(code)}
    target = None
    if goal.amount is not None:
        target = int((goal.amount * Decimal(10) ** minor_digits(base)).to_integral_value())
    return GoalProgress(
        name=goal.name,
        title=goal.title,
        start=goal.start,
        end=goal.end,
        currency=base,
        target_amount=target,
        reached_amount=reached or 0,
        target_donors=goal.donors,
        reached_donors=donors,
        unconverted=unconverted,
    )


def _milestones(
    config: Config,
    convert: Converter,
    months: list[MonthRow],
    totals_before: int | None,
    totals_now: int | None,
) -> list[MilestoneHit]:
    """Thresholds first crossed in the last month of ``months`` (oldest first)."""
    current, earlier = months[-1], months[:-1]
    hits: list[MilestoneHit] = []
    best_before = max((m.all_donors for m in earlier), default=0)
    for threshold in sorted(config.milestones.monthly_donors):
        if current.all_donors >= threshold > best_before:
            hits.append(MilestoneHit("monthly_donors", threshold))
    people_before = sum(m.new_donors + m.anonymous for m in earlier)
    people_now = people_before + current.new_donors + current.anonymous
    for threshold in sorted(config.milestones.total_donors):
        if people_now >= threshold > people_before:
            hits.append(MilestoneHit("total_donors", threshold))
    if totals_now is not None:
        scale = Decimal(10) ** minor_digits(convert.base)
        for amount in sorted(config.milestones.total_amount):
            limit = int(amount * scale)
            if totals_now >= limit > (totals_before or 0):
                hits.append(MilestoneHit("total_amount", amount))
    return hits


def _records(months: list[MonthRow], totals: dict[int, int | None]) -> tuple[list[str], int | None]:
    current, earlier = months[-1], months[:-1]
    records: list[str] = []
    previous_best = max((m.all_donors for m in earlier), default=None)
    if len(earlier) >= RECORD_MIN_HISTORY:
        if previous_best is not None and current.all_donors > previous_best:
            records.append("donors")
        best_total = max((t for m in earlier if (t := totals.get(m.month)) is not None), default=None)
        now_total = totals.get(current.month)
        if best_total is not None and now_total is not None and now_total > best_total:
            records.append("total")
    same_year = [m for m in earlier if m.month // 100 == current.month // 100]
    if same_year and "donors" not in records and current.all_donors > max(m.all_donors for m in same_year):
        records.append("donors_year")
    if same_year and "total" not in records:
        year_totals = [t for m in same_year if (t := totals.get(m.month)) is not None]
        now_total = totals.get(current.month)
        if year_totals and now_total is not None and now_total > max(year_totals):
            records.append("total_year")
    return records, previous_best


async def build_report(
    ledger: Ledger, config: Config, month: Month, *, list_limit: int = 200, public: bool = True
) -> MonthReport:
    """Everything the bulletin and ``stats`` say about ``month``."""
    convert = Converter(config)
    rows = await ledger.months(upto=month.key)
    current = rows[-1] if rows and rows[-1].month == month.key else MonthRow(month.key, 0, 0, 0, 0, 0, 0, 0)
    history = [r for r in rows if r.month < month.key] + [current]
    by_month = {r.month: r for r in history}

    # Totals per month in the base currency, for records, comparisons and the all-time figure.
    month_money: dict[int, int | None] = {}
    all_time: dict[str, int] = {}
    totals_before: dict[str, int] = {}
    money_rows = await ledger.totals_by_month(month.key)
    for row in history:
        amounts = money_rows.get(row.month, {})
        month_money[row.month] = convert.total(amounts)[0]
        for code, amount in amounts.items():
            all_time[code] = all_time.get(code, 0) + amount
            if row.month < month.key:
                totals_before[code] = totals_before.get(code, 0) + amount
    totals = dict(money_rows.get(month.key, {}))
    total_base, unconverted = convert.total(totals)
    median, largest = _median_and_largest(await ledger.amount_histogram(month.key), convert)

    def change(of: Month, pick: str) -> Change:
        row = by_month.get(of.key)
        now = current.all_donors if pick == "donors" else (month_money.get(month.key) or 0)
        if row is None:
            return Change(None, now)
        return Change(row.all_donors if pick == "donors" else (month_money.get(of.key) or 0), now)

    records, previous_best = _records(history, month_money)
    milestones = _milestones(
        config, convert, history, convert.total(totals_before)[0], convert.total(all_time)[0]
    )
    month_end = month.end(config.project.tz)
    month_start = month.start(config.project.tz)
    goals = [
        await goal_progress(ledger, config, goal, month_end)
        for goal in config.goals
        if _goal_window(goal, config.project.tz)[0] < month_end
        and _goal_window(goal, config.project.tz)[1] > month_start
    ]
    listed, public_count = await ledger.public_donations(month.key, list_limit) if public else ([], 0)
    return MonthReport(
        month=month,
        base_currency=convert.base,
        donors=current.all_donors,
        anonymous=current.anonymous,
        new_donors=current.new_donors,
        returning_donors=current.donors - current.new_donors,
        recurring_donors=current.recurring_donors,
        organisations=current.organisations,
        donations=current.donations,
        totals=totals,
        total_base=total_base,
        unconverted=unconverted,
        median_base=median,
        largest_base=largest,
        donors_vs_previous=change(month.prev(), "donors"),
        donors_vs_year_ago=change(month.shift(-12), "donors"),
        total_vs_previous=change(month.prev(), "total") if total_base is not None else None,
        total_vs_year_ago=change(month.shift(-12), "total") if total_base is not None else None,
        records=records,
        previous_record_donors=previous_best,
        milestones=milestones,
        goals=goals,
        all_time_donors=sum(r.new_donors + r.anonymous for r in history),
        all_time_repeat_donors=sum(r.repeat_donors for r in history),
        all_time_total_base=convert.total(all_time)[0],
        public_donations=listed,
        public_count=public_count,
    )


async def month_history(ledger: Ledger, config: Config, end: Month, months: int) -> list[MonthFigures]:
    """The ``months`` months up to ``end`` (inclusive), with zeros for months without donations."""
    convert = Converter(config)
    first = end.shift(-(months - 1))
    rows = {r.month: r for r in await ledger.months(upto=end.key) if r.month >= first.key}
    money_rows = await ledger.totals_by_month(end.key)
    series = []
    month = first
    while month <= end:
        row = rows.get(month.key)
        if row is None:
            series.append(MonthFigures(month, 0, 0, 0, None))
        else:
            amounts = money_rows.get(month.key, {})
            series.append(
                MonthFigures(
                    month,
                    row.all_donors,
                    row.new_donors,
                    row.donors - row.new_donors,
                    convert.total(amounts)[0],
                )
            )
        month = month.next()
    return series
