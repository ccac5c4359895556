"""Running the pull sources: one sync (``donorbot sync``), or each at its interval (``donorbot run``).

A sync reads everything since its source's cursor, then stores the whole batch in
one ledger transaction; only once that has committed does the cursor move (in the
``sync_sources`` table). A failure anywhere (network, 5xx, a refused token, an
answer of an unexpected shape, a full disk) stores nothing of the batch and leaves
the cursor where it was: the next sync reads the same transactions again, and what
was already stored is recognised by its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import Config
from bot.ledger.models import NewDonation, RefundEvent, WriteResult
from bot.ledger.store import Ledger, LedgerError
from bot.sources.sync.base import Batch, SyncError, SyncSource, cli_name
from bot.sources.sync.http import TokenRef
from bot.sources.sync.state import load_state, record_failure, record_success

__all__ = ["Poller", "SyncReport", "build_sources", "start_polling", "sync_once"]

log = logging.getLogger(__name__)

Write = Callable[[list[NewDonation | RefundEvent]], Awaitable[WriteResult]]
Notify = Callable[[list[NewDonation]], None]


@dataclass(slots=True)
class SyncReport:
    """What one sync of one source did."""

    key: str
    new: int = 0
    duplicates: int = 0
    refunds_applied: int = 0
    refunds_pending: int = 0
    seen: int = 0
    requests: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    cursor: str | None = None
    error: str | None = None
    first: bool = False  # the source had never synced

    def lines(self) -> list[str]:
        name = cli_name(self.key)
        if self.error:
            return [f"{name}: failed, nothing stored: {self.error}"]
        out = [
            f"{name}: {self.seen} record(s) read in {self.requests} request(s)",
            f"  new: {self.new}",
            f"  duplicates (already in the ledger): {self.duplicates}",
            f"  refunds applied: {self.refunds_applied}",
        ]
        if self.refunds_pending:
            out.append(f"  refunds kept until their donation arrives: {self.refunds_pending}")
        for reason, count in sorted(self.skipped.items()):
            out.append(f"  skipped, {reason}: {count}")
        out.append(f"  next sync starts from: {self.cursor or 'the beginning'}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "source": cli_name(self.key),
            "ok": self.error is None,
            "error": self.error,
            "new": self.new,
            "duplicates": self.duplicates,
            "refunds_applied": self.refunds_applied,
            "refunds_pending": self.refunds_pending,
            "read": self.seen,
            "requests": self.requests,
            "skipped": dict(self.skipped),
            "cursor": self.cursor,
        }


def _token(config: Config, key: str, env: str | None) -> TokenRef | None:
    if not env:
        return None
    secret = config.secret(env)
    if secret is None:
        raise SyncError(f"{key}: environment variable {env} is not set")
    return TokenRef(key, env, secret.get_secret_value())


def build_sources(
    config: Config, only: Iterable[str] | None = None, **client: Any
) -> tuple[list[SyncSource], dict[str, str]]:
    """The configured pull sources (``only``: these config keys), and a problem per source that cannot start.

    ``client`` options (``sleep``, ``clock``) are passed to each source's HTTP client (tests).
    """
    from bot.sources.sync.github_sponsors import GitHubSponsorsSync
    from bot.sources.sync.opencollective import OpenCollectiveSync
    from bot.sources.sync.stripe import StripeSync

    wanted = set(only) if only is not None else None
    sources: list[SyncSource] = []
    problems: dict[str, str] = {}
    settings = config.sources
    for key in config.sources.configured():
        if wanted is not None and key not in wanted:
            continue
        try:
            if key == "opencollective" and settings.opencollective is not None:
                token = _token(config, "sources.opencollective.token_env", settings.opencollective.token_env)
                sources.append(OpenCollectiveSync(settings.opencollective, token, **client))
            elif key == "stripe" and settings.stripe is not None:
                token = _token(config, "sources.stripe.secret_key_env", settings.stripe.secret_key_env)
                assert token is not None
                sources.append(StripeSync(settings.stripe, token))
            elif key == "github_sponsors" and settings.github_sponsors is not None:
                token = _token(
                    config, "sources.github_sponsors.token_env", settings.github_sponsors.token_env
                )
                assert token is not None
                sources.append(GitHubSponsorsSync(settings.github_sponsors, token, **client))
        except SyncError as exc:
            problems[key] = str(exc)
    return sources, problems


async def _new_among(ledger: Ledger, items: Sequence[NewDonation | RefundEvent]) -> list[NewDonation]:
    """The donations of ``items`` the ledger does not hold yet (for alerts and thanks)."""
    donations = [d for d in items if isinstance(d, NewDonation)]
    known: set[tuple[str, str]] = set()
    for start in range(0, len(donations), 500):
        chunk = donations[start : start + 500]
        marks = ",".join("(?, ?)" for _ in chunk)
        params = [value for d in chunk for value in (d.source, d.external_id)]
        rows = await ledger.query(
            f"SELECT source, external_id FROM donations WHERE (source, external_id) IN (VALUES {marks})",
            params,
        )
        known.update((row[0], row[1]) for row in rows)
    return [d for d in donations if (d.source, d.external_id) not in known]


async def sync_once(
    ledger: Ledger,
    source: SyncSource,
    *,
    now: Callable[[], datetime] | None = None,
    write: Write | None = None,
    notify: Notify | None = None,
) -> SyncReport:
    """Read ``source`` since its cursor and store the batch in one transaction; never raises for a failed sync.

    ``notify`` gets the donations this sync added, except on a source's first sync
    (history is not news); ``write`` defaults to ``ledger.write``.
    """
    clock = now or (lambda: datetime.now(UTC))
    state = await load_state(ledger, source.key)
    report = SyncReport(source.key, cursor=state.cursor, first=state.last_success is None)
    try:
        batch: Batch = await source.fetch(state.cursor)
        report.seen, report.requests, report.skipped = batch.seen, batch.requests, dict(batch.skipped)
        fresh = await _new_among(ledger, batch.items) if notify and not report.first else []
        result = await (write or ledger.write)(batch.items)
    except (SyncError, LedgerError) as exc:
        report.error = str(exc)
        log.error("sync %s failed, nothing stored: %s", cli_name(source.key), report.error)
        with contextlib.suppress(LedgerError):
            await record_failure(ledger, source.key, report.error, clock())
        return report
    report.new, report.duplicates = result.inserted, result.duplicates
    report.refunds_applied, report.refunds_pending = result.refunds_applied, result.refunds_pending
    report.cursor = batch.cursor or state.cursor
    try:
        await record_success(ledger, source.key, batch.cursor, result.inserted, clock())
    except LedgerError as exc:
        # The batch is in; the cursor did not move: the next sync reads it again and stores nothing twice.
        log.error("sync %s: stored, but the cursor could not be saved: %s", cli_name(source.key), exc)
    if fresh and notify is not None:
        notify(fresh)
    log.info(
        "sync %s: %d new, %d duplicate(s), %d refund(s) applied",
        cli_name(source.key), report.new, report.duplicates, report.refunds_applied,
    )  # fmt: skip
    return report


class Poller:
    """Syncs each source at its interval until stopped (``donorbot run``).

    A source that last synced less than an interval ago (before a restart) waits for
    the rest of it. Failures are recorded and retried at the next interval.
    """

    def __init__(
        self,
        ledger: Ledger,
        sources: Sequence[SyncSource],
        *,
        notify: Notify | None = None,
        write: Write | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.ledger = ledger
        self.sources = list(sources)
        self.notify = notify
        self.write = write
        self.now = now or (lambda: datetime.now(UTC))
        self.reports: dict[str, SyncReport] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, problems: dict[str, str] | None = None) -> None:
        """Poll every source; ``problems`` (sources that cannot start) are logged and shown by ``status``."""
        for source in self.sources:
            self._tasks.append(asyncio.create_task(self._loop(source), name=f"sync {cli_name(source.key)}"))
        if problems:
            self._tasks.append(asyncio.create_task(self._report(problems), name="sync problems"))

    async def _report(self, problems: dict[str, str]) -> None:
        for key, problem in problems.items():
            log.error("sync %s: not started: %s", cli_name(key), problem)
            with contextlib.suppress(LedgerError):
                await record_failure(self.ledger, key, problem, self.now())

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless stopped first; True when stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), max(seconds, 0.0))
        return self._stop.is_set()

    async def due_in(self, source: SyncSource) -> timedelta:
        state = await load_state(self.ledger, source.key)
        if state.last_attempt is None:
            return timedelta(0)
        return max(state.last_attempt + source.interval - self.now(), timedelta(0))

    async def _loop(self, source: SyncSource) -> None:
        try:
            delay = await self.due_in(source)
        except LedgerError as exc:
            log.error("sync %s: %s", cli_name(source.key), exc)
            delay = timedelta(0)
        while not await self._wait(delay.total_seconds()):
            try:
                self.reports[source.key] = await sync_once(
                    self.ledger, source, now=self.now, write=self.write, notify=self.notify
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not stop the other sources, nor this one for good
                log.error("sync %s failed: %s", cli_name(source.key), exc, exc_info=exc)
                with contextlib.suppress(Exception):
                    await record_failure(self.ledger, source.key, f"unexpected error: {exc}", self.now())
            delay = source.interval


def start_polling(config: Config, ledger: Ledger, notify: Notify | None = None) -> Poller:
    """``donorbot run``'s hook: poll every configured source at its interval, until ``stop()``."""
    sources, problems = build_sources(config)
    poller = Poller(ledger, sources, notify=notify)
    poller.start(problems)
    return poller
