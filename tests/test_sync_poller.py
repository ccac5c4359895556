"""The scheduler hook of ``donorbot run`` (bot.sources.sync.runner.Poller), with scripted sources."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_config
from bot.core import Core
from bot.ledger.models import NewDonation
from bot.sources.sync.base import Batch, SyncError
from bot.sources.sync.runner import Poller
from bot.sources.sync.state import load_state, record_success
from tests.sources_support import KEY, KEY_ENV, write_config


class Scripted:
    """A source whose fetches return (or raise) what the test lists, then empty batches."""

    key = "opencollective"
    source = "opencollective"

    def __init__(self, script: list[Batch | SyncError], interval: float = 0.05) -> None:
        self.script = script
        self.interval = timedelta(seconds=interval)
        self.cursors: list[str | None] = []
        self.fetched = asyncio.Event()

    async def fetch(self, cursor: str | None) -> Batch:
        self.cursors.append(cursor)
        self.fetched.set()
        step = self.script.pop(0) if self.script else Batch(cursor=cursor)
        if isinstance(step, SyncError):
            raise step
        return step


def donation(n: int) -> NewDonation:
    return NewDonation(
        "opencollective", f"d{n}", 500, "EUR", datetime(2025, 10, n, tzinfo=UTC), f"opencollective:p{n}"
    )


@pytest.fixture
async def core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Core:
    monkeypatch.setenv(KEY_ENV, KEY)
    opened = await Core.open(load_config(write_config(tmp_path, timezone="UTC")))
    yield opened  # type: ignore[misc]
    await opened.close()


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not check():  # noqa: ASYNC110  (what is awaited is another task's progress)
            await asyncio.sleep(0.01)


async def test_it_polls_at_the_interval_retries_a_failure_and_tells_only_new_donations_after_the_first_sync(
    core: Core,
) -> None:
    told: list[list[str]] = []
    source = Scripted([
        Batch(items=[donation(1), donation(2)], cursor="c1"),  # first sync: history, not news
        SyncError("Open Collective at http://127.0.0.1:9: HTTP 502"),
        Batch(items=[donation(2), donation(3)], cursor="c2"),  # one known, one new
    ])  # fmt: skip
    poller = Poller(core.ledger, [source], notify=lambda new: told.append([d.external_id for d in new]))
    poller.start()
    try:
        await _until(lambda: len(source.cursors) >= 4)
    finally:
        await poller.stop()
    assert source.cursors[:4] == [None, "c1", "c1", "c2"]  # the failure left the cursor where it was
    assert told == [["d3"]]
    state = await load_state(core.ledger, "opencollective")
    assert state.cursor == "c2" and state.failures == 1 and state.syncs >= 2 and state.stored == 3
    assert state.last_error is None  # cleared by the next success
    rows = await core.ledger.query("SELECT count(*) FROM donations")
    assert rows[0][0] == 3


async def test_after_a_restart_a_source_waits_for_the_rest_of_its_interval(core: Core) -> None:
    now = datetime.now(UTC).replace(microsecond=0)  # the ledger keeps whole seconds
    await record_success(core.ledger, "opencollective", "c0", 0, now - timedelta(seconds=10))
    slow = Scripted([], interval=3600)
    poller = Poller(core.ledger, [slow], now=lambda: now)
    assert await poller.due_in(slow) == timedelta(seconds=3590)
    due = Scripted([], interval=5)
    assert await poller.due_in(due) == timedelta(0)  # its interval is over: at once
    poller.start()
    await asyncio.sleep(0.1)
    await poller.stop()
    assert slow.cursors == []  # not polled before its time


async def test_a_source_that_cannot_start_is_reported_in_status(core: Core) -> None:
    poller = Poller(core.ledger, [])
    poller.start({"stripe": "sources.stripe.secret_key_env: environment variable STRIPE_KEY is not set"})
    await _until(lambda: all(t.done() for t in poller._tasks))
    await poller.stop()
    state = await load_state(core.ledger, "stripe")
    assert state.last_error == "sources.stripe.secret_key_env: environment variable STRIPE_KEY is not set"
