"""The ledger's per-hour month cache gives the month the zone conversion gives, for any second."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ledger.store import MAX_TIME, MIN_TIME, _month_key, _MonthOfStamp

# Daylight saving at midnight, half-hour and 45-minute offsets, odd historical offsets
# (Monrovia until 1972), a skipped day (Apia, 2011), a 30-minute DST (Lord Howe).
ZONES = [
    "Europe/Paris", "America/Santiago", "Asia/Kathmandu", "Africa/Monrovia", "Pacific/Apia",
    "Australia/Lord_Howe", "America/Havana", "Asia/Tehran", "UTC", "Pacific/Chatham",
]  # fmt: skip

# Seconds around month starts (where a wrong cache would show), and anywhere at all.
near_month_start = st.builds(
    lambda zone, year, month, delta: int(datetime(year, month, 1, tzinfo=ZoneInfo(zone)).timestamp()) + delta,
    st.sampled_from(ZONES), st.integers(1970, 2100), st.integers(1, 12), st.integers(-7200, 7200),
)  # fmt: skip
stamps = st.lists(near_month_start | st.integers(MIN_TIME, MAX_TIME), min_size=1, max_size=50)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), stamps)
def test_the_cached_month_is_the_zone_conversions_month(zone: str, seconds: list[int]) -> None:
    tz = ZoneInfo(zone)
    month_of = _MonthOfStamp(tz)
    for stamp in [s for s in seconds if MIN_TIME <= s <= MAX_TIME] * 2:  # the second pass hits the cache
        assert month_of(stamp) == _month_key(datetime.fromtimestamp(stamp, UTC), tz), stamp


def test_every_second_around_a_daylight_saving_change_at_midnight() -> None:
    tz = ZoneInfo("America/Santiago")  # clocks move at midnight, some years on the 1st of a month
    month_of = _MonthOfStamp(tz)
    for year, month in ((2022, 9), (2023, 4), (2016, 5), (2019, 4)):
        start = int(datetime(year, month, 1, tzinfo=tz).timestamp())
        for stamp in range(start - 3 * 3600, start + 3 * 3600, 7):
            assert month_of(stamp) == _month_key(datetime.fromtimestamp(stamp, UTC), tz)
