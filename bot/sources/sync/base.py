"""What every pull source shares: the batch it hands back, its errors, its names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from bot.ledger.models import NewDonation, RefundEvent

__all__ = [
    "CLI_NAMES", "Batch", "SyncError", "SyncSource", "cli_name", "config_key", "parse_cursor", "start_time",
]  # fmt: skip

# The config key of each source (``[sources.KEY]``) and the name the command line takes.
CLI_NAMES = {"opencollective": "opencollective", "stripe": "stripe", "github_sponsors": "github-sponsors"}


def cli_name(key: str) -> str:
    return CLI_NAMES.get(key, key)


def config_key(name: str) -> str | None:
    """``github-sponsors`` or ``github_sponsors`` -> ``github_sponsors``; None when unknown."""
    wanted = name.strip().lower().replace("-", "_")
    return wanted if wanted in CLI_NAMES else None


class SyncError(Exception):
    """A sync that failed: nothing of its batch is stored; it is tried again at the next interval.

    The message names what is wrong and where (the config key of a refused token, the URL
    that answered badly); it never holds a secret.
    """


@dataclass(slots=True)
class Batch:
    """What one sync read: donations and refunds to store, and where the next sync starts."""

    items: list[NewDonation | RefundEvent] = field(default_factory=list)
    cursor: str | None = None  # opaque to the runner; None keeps the previous one
    requests: int = 0  # API requests it took
    seen: int = 0  # records the API returned (overlap included)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> how many

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


class SyncSource(Protocol):
    """One platform's API, read incrementally."""

    key: str  # the config key, e.g. "github_sponsors"
    source: str  # the ledger's source name, the same as its importer's and webhook's
    interval: timedelta

    async def fetch(self, cursor: str | None) -> Batch:
        """Everything since ``cursor`` (None: the first sync). Raises SyncError, never stores."""
        ...


def start_time(since: date | None) -> datetime | None:
    """The first sync's start, from the config's ``since`` (midnight UTC), or None (everything)."""
    if since is None:
        return None
    from datetime import UTC

    return datetime.combine(since, time(0, 0), tzinfo=UTC)


def parse_cursor(cursor: str, what: str) -> datetime:
    """A stored cursor (an ISO time, the newest creation time read) back to an aware time."""
    try:
        parsed = datetime.fromisoformat(cursor)
    except ValueError:
        raise SyncError(f"{what}: the stored cursor {cursor[:40]!r} is not a time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
