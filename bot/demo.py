"""A demo ledger: thirty months of a growing community, from a fixed random seed.

Shaped like a real free-software project's donations: many small gifts, a core
of monthly supporters, a heavy tail of large ones, a few organisations, EUR and
USD, some donors who chose to be named (a few with a message), a handful of
refunds and anonymous gifts, and a record month at the end (more than a
thousand people, as in a good December).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.ledger.models import DonorKind, NewDonation, RefundEvent, Status
from bot.months import Month

__all__ = ["DEMO_KEY", "DEMO_MONTHS", "demo_config_text", "demo_donations"]

SEED = 20251231
DEMO_MONTHS = 30
DEMO_KEY = "demo-pseudonym-key-not-secret-0123456789"

_FIRST = [
    "Ralph", "Ana", "Chen", "Fatima", "Lukas", "Marie", "Olusegun", "Priya", "Sven", "Yuki", "Camille",
    "Diego", "Emma", "Hamid", "Ingrid", "João", "Karin", "Léa", "Mateo", "Nadia", "Oskar", "Paula",
    "Quentin", "Rosa", "Sami", "Tomás", "Ulla", "Valentin", "Wen", "Xavier", "Zoé", "Aiko", "Bruno",
]  # fmt: skip
_LAST = "ABCDEFGHIJKLMNOPRSTVWZ"
_MESSAGES = [
    "Thanks for all your work!",
    "Merci pour tout !",
    "Keep it up, this makes my computer a pleasure to use.",
    "Danke für eure Arbeit.",
    "For the new release. You rock!",
    "Gracias por el proyecto.",
    "Small but monthly. Thank you!",
]
_ORGS = ["Acme Hosting", "Nordic Cloud Oy", "Libre Office Supplies", "Blue Lagoon ISP", "Datacentre Lyon"]
_AMOUNTS = [
    200,
    300,
    500,
    500,
    1000,
    1000,
    1000,
    1500,
    2000,
    2000,
    2500,
    3000,
    5000,
    5000,
    7500,
    10000,
    25000,
]


def _month_sizes(end: Month) -> dict[Month, int]:
    """People who give each month: growth, a summer dip, a generous December, a record last month."""
    sizes = {}
    start = end.shift(-(DEMO_MONTHS - 1))
    for i in range(DEMO_MONTHS):
        month = start.shift(i)
        base = 380 + i * 14
        if month.month in (7, 8):
            base = int(base * 0.85)
        if month.month == 12:
            base = int(base * 1.25)
        sizes[month] = base
    sizes[end] = 1093  # the month the demo reports on: a record, "more than a thousand people"
    return sizes


def demo_donations(end: Month, tz_offset_hours: int = 0) -> Iterator[NewDonation | RefundEvent]:
    """The demo's donations (and a few refunds) up to and including ``end``."""
    rng = random.Random(SEED)
    pool = 9000
    public = {i for i in range(pool) if rng.random() < 0.3}
    monthly = [i for i in range(pool) if rng.random() < 0.06]
    usd = {i for i in range(pool) if rng.random() < 0.25}
    sizes = _month_sizes(end)
    serial = 0
    for month, size in sizes.items():
        start = datetime(month.year, month.month, 1, tzinfo=UTC) + timedelta(hours=12 - tz_offset_hours)
        days = (month.next().first_day() - month.first_day()).days
        recurring_now = [d for d in monthly if rng.random() < 0.9][: size // 4]
        regulars = set(recurring_now)
        others = [d for d in range(pool) if d not in regulars]
        occasional = rng.sample(others, size - len(recurring_now))
        donors = [(d, True) for d in recurring_now] + [(d, False) for d in occasional]
        for donor, recurring in donors:
            serial += 1
            amount = rng.choice(_AMOUNTS[:8]) if recurring else rng.choice(_AMOUNTS)
            if rng.random() < 0.02:
                amount *= 10
            currency = "USD" if donor in usd else "EUR"
            anonymous = rng.random() < 0.02
            name = f"{_FIRST[donor % len(_FIRST)]} {_LAST[donor % len(_LAST)]}."
            message = rng.choice(_MESSAGES) if donor in public and rng.random() < 0.15 else None
            yield NewDonation(
                source="demo",
                external_id=f"d{serial}",
                amount=amount,
                currency=currency,
                received_at=start + timedelta(days=rng.randrange(days), minutes=rng.randrange(600)),
                donor_id=None if anonymous else f"demo:{donor}",
                public=donor in public and not anonymous,
                display_name=name,
                message=message,
                recurring=recurring,
            )
            if rng.random() < 0.004:
                yield RefundEvent(source="demo", external_id=f"d{serial}", status=Status.REFUNDED)
        for org in rng.sample(_ORGS, 2 if month != end else 4):
            serial += 1
            yield NewDonation(
                source="demo",
                external_id=f"o{serial}",
                amount=rng.choice([50000, 100000, 250000]),
                currency="EUR",
                received_at=start + timedelta(days=rng.randrange(days)),
                donor_id=f"demo-org:{org}",
                public=True,
                display_name=org,
                kind=DonorKind.ORGANISATION,
            )


def demo_config_text(folder: Path, end: Month) -> str:
    """A configuration for exploring the demo ledger with every other command."""
    goal_start = end.shift(-2).first_day()
    goal_end = end.next().next().first_day() - timedelta(days=1)
    return f"""# The demo's configuration, written by `donorbot demo`. Try:
#   donorbot --config {folder / "config.toml"} stats --month {end}
#   donorbot --config {folder / "config.toml"} preview --month {end} --locale fr
[project]
name = "Demo Project"
timezone = "Europe/Paris"
locale = "en"
base_currency = "EUR"
donate_urls = ["https://example.org/donate"]
data_dir = "."

[project.rates]
USD = "0.92"

[ledger]
path = "demo.sqlite3"
pseudonym_key_env = "DONORBOT_DEMO_PSEUDONYM_KEY"

[[goals]]
name = "build-server"
title = "A new build server"
amount = "150000"
start = {goal_start.isoformat()}
end = {goal_end.isoformat()}

[news]
dir = "news"

[[targets]]
name = "console"
platform = "console"
"""
