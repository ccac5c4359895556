"""Crontab expressions as crontab(5) means them, and their fire times across daylight-saving changes.

The table's expected times were worked out by hand from crontab(5) (Debian's manual: 0 and 7
are Sunday; names; ranges; steps; "if both fields are restricted (i.e., don't start with *), the
command will be run when either field matches") and the calendar; every row whose fields do
not start with ``*/`` is also checked against the ``croniter`` package, an implementation
nobody here wrote. croniter treats ``*/2`` in a day field as restricted where cron's own code
(and the manual: "don't start with *") does not, so those rows are checked by hand only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from bot.crontab import CrontabError, parse_crontab
from bot.schedule import LocalCron, next_runs

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
# Tuesday 1 December 2026, 21:50 (wall clock).
START = datetime(2026, 12, 1, 21, 50)


def _walls(expression: str, start: datetime, count: int) -> list[datetime]:
    cron, wall, out = parse_crontab(expression), start, []
    for _ in range(count):
        nxt = cron.next_after(wall)
        assert nxt is not None
        out.append(nxt)
        wall = nxt
    return out


def _d(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


TABLE: list[tuple[str, list[str]]] = [
    # 0 and 7 are both Sunday (6 December 2026 is a Sunday); APScheduler's from_crontab read 0 as Monday.
    ("0 10 * * 0", ["2026-12-06 10:00", "2026-12-13 10:00", "2026-12-20 10:00"]),
    ("0 10 * * 7", ["2026-12-06 10:00", "2026-12-13 10:00", "2026-12-20 10:00"]),
    ("0 10 * * sun", ["2026-12-06 10:00", "2026-12-13 10:00", "2026-12-20 10:00"]),
    ("0 10 * * SUN", ["2026-12-06 10:00", "2026-12-13 10:00", "2026-12-20 10:00"]),
    # Monday to Friday, by number and by name.
    ("0 9 * * 1-5", ["2026-12-02 09:00", "2026-12-03 09:00", "2026-12-04 09:00", "2026-12-07 09:00"]),
    ("0 9 * * Mon-Fri", ["2026-12-02 09:00", "2026-12-03 09:00", "2026-12-04 09:00", "2026-12-07 09:00"]),
    # A range that ends on 7: Friday, Saturday, Sunday.
    ("0 0 * * 5-7", ["2026-12-04 00:00", "2026-12-05 00:00", "2026-12-06 00:00", "2026-12-11 00:00"]),
    ("0 0 * * sat,sun", ["2026-12-05 00:00", "2026-12-06 00:00", "2026-12-12 00:00"]),
    # Steps and lists.
    ("*/15 * * * *", ["2026-12-01 22:00", "2026-12-01 22:15", "2026-12-01 22:30"]),
    (
        "0 0 1-10/2 * *",
        ["2026-12-03 00:00", "2026-12-05 00:00", "2026-12-07 00:00", "2026-12-09 00:00", "2027-01-01 00:00"],
    ),
    (
        "5,35 8-9 * * *",
        ["2026-12-02 08:05", "2026-12-02 08:35", "2026-12-02 09:05", "2026-12-02 09:35", "2026-12-03 08:05"],
    ),
    ("0 10-20/5 * * *", ["2026-12-02 10:00", "2026-12-02 15:00", "2026-12-02 20:00", "2026-12-03 10:00"]),
    # Month names; the monthly default.
    ("0 10 1 jan,JUL *", ["2027-01-01 10:00", "2027-07-01 10:00", "2028-01-01 10:00"]),
    ("0 10 1 * *", ["2027-01-01 10:00", "2027-02-01 10:00", "2027-03-01 10:00"]),
    ("0 0 31 * *", ["2026-12-31 00:00", "2027-01-31 00:00", "2027-03-31 00:00", "2027-05-31 00:00"]),
    ("30 2 29 2 *", ["2028-02-29 02:30", "2032-02-29 02:30"]),
    # The "or" rule: both day fields restricted, either one fires.
    (
        "0 0 1 * mon",
        [
            "2026-12-07 00:00",
            "2026-12-14 00:00",
            "2026-12-21 00:00",
            "2026-12-28 00:00",
            "2027-01-01 00:00",
            "2027-01-04 00:00",
        ],
    ),
    (
        "30 4 1,15 * 5",
        [
            "2026-12-04 04:30",
            "2026-12-11 04:30",
            "2026-12-15 04:30",
            "2026-12-18 04:30",
            "2026-12-25 04:30",
            "2027-01-01 04:30",
        ],
    ),
    ("0 0 13 * fri", ["2026-12-04 00:00", "2026-12-11 00:00", "2026-12-13 00:00", "2026-12-18 00:00"]),
    # Specials.
    ("@monthly", ["2027-01-01 00:00", "2027-02-01 00:00"]),
    ("@weekly", ["2026-12-06 00:00", "2026-12-13 00:00"]),
    ("@daily", ["2026-12-02 00:00", "2026-12-03 00:00"]),
    ("@midnight", ["2026-12-02 00:00", "2026-12-03 00:00"]),
    ("@hourly", ["2026-12-01 22:00", "2026-12-01 23:00"]),
    ("@yearly", ["2027-01-01 00:00", "2028-01-01 00:00"]),
    ("@annually", ["2027-01-01 00:00", "2028-01-01 00:00"]),
]

# A day field starting with * counts as unrestricted: "and", not "or" (crontab(5), by hand).
STAR_STEP_TABLE: list[tuple[str, list[str]]] = [
    # Odd days that are Mondays: 7 and 21 December, 11 and 25 January, 1 February 2027.
    (
        "0 0 */2 * mon",
        ["2026-12-07 00:00", "2026-12-21 00:00", "2027-01-11 00:00", "2027-01-25 00:00", "2027-02-01 00:00"],
    ),
    # The first Sunday of the month: days 1-7 and */7 in the weekday field (0 and 7, Sunday).
    ("0 0 1-7 * */7", ["2026-12-06 00:00", "2027-01-03 00:00", "2027-02-07 00:00"]),
]


@pytest.mark.parametrize(("expression", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_next_fire_times_follow_crontab_5(expression: str, expected: list[str]) -> None:
    assert _walls(expression, START, len(expected)) == [_d(t) for t in expected]


@pytest.mark.parametrize(("expression", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_the_table_agrees_with_croniter(expression: str, expected: list[str]) -> None:
    # Also far past the table, from many starting points: 40 fire times each.
    for start in (START, datetime(2027, 2, 27, 23, 59), datetime(2028, 12, 31, 23, 59)):
        it = croniter(expression, start)
        assert _walls(expression, start, 40) == [it.get_next(datetime) for _ in range(40)]
    it = croniter(expression, START)
    assert [it.get_next(datetime) for _ in expected] == [_d(t) for t in expected]


@pytest.mark.parametrize(("expression", "expected"), STAR_STEP_TABLE, ids=[r[0] for r in STAR_STEP_TABLE])
def test_a_day_field_starting_with_a_star_is_unrestricted(expression: str, expected: list[str]) -> None:
    assert _walls(expression, START, len(expected)) == [_d(t) for t in expected]


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 10 * *", "4 fields"),
        ("0 10 * * * *", "6 fields"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("0 24 * * *", "hour: 24 is outside 0-23"),
        ("0 0 0 * *", "day of month: 0 is outside 1-31"),
        ("0 0 1 13 *", "month: 13 is outside 1-12"),
        ("0 0 * * 8", "day of week: 8 is outside 0-7"),
        ("0 0 * * fri-mon", "runs backwards"),
        ("*/0 * * * *", "step '0'"),
        ("5/15 * * * *", "a step needs a range"),
        ("0 0 * * funday", "'funday' is not a number or a name"),
        ("0 0 * jan-feb-mar *", "not a number"),
        ("0 0 1,,2 * *", "empty item"),
        ("0 0 ? * *", "'?' is not a number"),
        ("@reboot", "@reboot is not a date"),
        ("@fortnightly", "unknown special"),
        ("0 ٣ * * *", "not a number"),  # a non-ASCII digit
    ],
)
def test_what_crontab_refuses_is_refused_with_the_field_named(expression: str, problem: str) -> None:
    with pytest.raises(CrontabError) as caught:
        parse_crontab(expression)
    assert problem in str(caught.value)


def test_a_cron_that_never_fires_gives_no_time() -> None:
    assert parse_crontab("0 0 30 2 *").next_after(START) is None
    assert next_runs(LocalCron("0 0 31 4 *", PARIS), datetime(2026, 1, 1, tzinfo=UTC), 3) == []


# --- daylight saving: the spring gap and the autumn's repeated hour -----------------------------

# (zone, spring day, gap start hour, autumn day, repeated hour)
ZONES = [
    pytest.param(PARIS, datetime(2027, 3, 28), 2, datetime(2027, 10, 31), 2, id="Europe/Paris"),
    pytest.param(NEW_YORK, datetime(2027, 3, 14), 2, datetime(2027, 11, 7), 1, id="America/New_York"),
]


@pytest.mark.parametrize(("tz", "spring", "gap", "autumn", "repeated"), ZONES)
def test_a_time_in_the_spring_gap_fires_once_at_the_end_of_the_gap(
    tz: ZoneInfo, spring: datetime, gap: int, autumn: datetime, repeated: int
) -> None:
    daily = LocalCron(f"30 {gap} * * *", tz)
    runs = next_runs(daily, (spring - timedelta(days=2)).replace(hour=12, tzinfo=tz), 3)
    # The day before, the gap day (at the end of the gap: 03:00 local, the first instant after it), the day after.
    assert [(r.day, r.hour, r.minute) for r in runs] == [
        ((spring - timedelta(days=1)).day, gap, 30),
        (spring.day, gap + 1, 0),
        ((spring + timedelta(days=1)).day, gap, 30),
    ]
    # The gap's end is the change itself: one hour before, in UTC, it was still winter time.
    change = runs[1].astimezone(UTC)
    assert (change - timedelta(seconds=1)).astimezone(tz).utcoffset() != runs[1].utcoffset()
    # Every quarter-hour of the gap collapses into that one run, together with the hour after's :00.
    quarters = next_runs(LocalCron("*/15 * * * *", tz), spring.replace(hour=gap - 1, minute=50, tzinfo=tz), 4)
    assert [(q.hour, q.minute) for q in quarters] == [
        (gap + 1, 0),
        (gap + 1, 15),
        (gap + 1, 30),
        (gap + 1, 45),
    ]
    assert len({q.astimezone(UTC) for q in quarters}) == 4


@pytest.mark.parametrize(("tz", "spring", "gap", "autumn", "repeated"), ZONES)
def test_a_repeated_hour_in_the_autumn_fires_once_on_its_first_occurrence(
    tz: ZoneInfo, spring: datetime, gap: int, autumn: datetime, repeated: int
) -> None:
    daily = LocalCron(f"30 {repeated} * * *", tz)
    runs = next_runs(daily, (autumn - timedelta(days=1)).replace(hour=12, tzinfo=tz), 3)
    assert [r.date() for r in runs] == [(autumn + timedelta(days=i)).date() for i in range(3)]
    first = runs[0]
    assert first.fold == 0 and (first.astimezone(UTC) + timedelta(hours=1)).astimezone(tz).hour == repeated, (
        "the first of the two 01:30s / 02:30s: an hour later the wall clock shows the same hour again"
    )
    # An hourly cron runs at each distinct wall hour: the repeated one once, so 24 runs that day, not 25.
    hourly = next_runs(LocalCron("0 * * * *", tz), autumn.replace(tzinfo=tz) - timedelta(minutes=1), 30)
    that_day = [h for h in hourly if h.astimezone(tz).day == autumn.day]
    assert [h.hour for h in that_day] == list(range(24))
    # Asked again with the previous fire time (as APScheduler does), never the same instant twice.
    previous, now, fired = None, (autumn - timedelta(days=1)).replace(tzinfo=tz), []
    for _ in range(3):
        fire = daily.get_next_fire_time(previous, now)
        assert fire is not None
        fired.append(fire.astimezone(UTC))
        previous = now = fire
    assert len(set(fired)) == 3
