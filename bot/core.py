"""The core, assembled: configuration, ledger, report and rendering.

Every entry point (the CLI, the chat adapters, the scheduler) opens one Core
and asks it for reports and bulletins. Nothing here knows a chat platform.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bot.chat.message import Image, Message
from bot.config import Config
from bot.files import private_dir
from bot.ledger.store import Ledger
from bot.months import Month, month_of
from bot.news import report as reports
from bot.news.render import Renderer, news_items
from bot.outbox import Outbox
from bot.validation import pseudonym_key

__all__ = ["Core"]

log = logging.getLogger(__name__)

ImageMaker = Callable[["Core", reports.MonthReport, list[reports.MonthFigures], str], Image | None]


class Core:
    """What every part of donorbot shares. Open with :meth:`open`, then :meth:`close`."""

    def __init__(self, config: Config, ledger: Ledger, renderer: Renderer) -> None:
        self.config = config
        self.ledger = ledger
        self.renderer = renderer
        self.outbox = Outbox(ledger)
        self.charts = True  # messages carry their pictures (a trial render goes without)

    @classmethod
    async def open(cls, config: Config) -> Core:
        key = pseudonym_key(config)  # the same check, and words, as check-config's
        for change in private_dir(config.data_dir):
            log.warning("data folder: %s", change)
        ledger = await Ledger.open(config.ledger_path, config.project.tz, key)
        for note in ledger.notes:
            if "permissions were" in note:
                log.warning("ledger: %s", note)
            else:
                log.info("ledger %s: %s", config.ledger_path, note)
        return cls(config, ledger, Renderer(config))

    async def close(self) -> None:
        await self.ledger.close()

    async def __aenter__(self) -> Core:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- time -----------------------------------------------------------------------------

    def this_month(self, now: datetime | None = None) -> Month:
        return month_of(now or datetime.now(UTC), self.config.project.tz)

    def last_complete_month(self, now: datetime | None = None) -> Month:
        """The month before the current one, in the project's zone."""
        return self.this_month(now).prev()

    def has_ended(self, month: Month, now: datetime | None = None) -> bool:
        """Whether ``month`` is over in the project's zone (its bulletin can be complete)."""
        return month <= self.last_complete_month(now)

    # --- figures --------------------------------------------------------------------------

    async def report(self, month: Month, *, list_limit: int = 200) -> reports.MonthReport:
        return await reports.build_report(self.ledger, self.config, month, list_limit=list_limit)

    async def history(self, end: Month, months: int) -> list[reports.MonthFigures]:
        return await reports.month_history(self.ledger, self.config, end, months)

    async def goals_now(self, now: datetime | None = None) -> list[reports.GoalProgress]:
        """Goals running today (started, not ended), with progress up to now."""
        moment = now or datetime.now(UTC)
        today = moment.astimezone(self.config.project.tz).date()
        return [
            await reports.goal_progress(self.ledger, self.config, goal, moment)
            for goal in self.config.goals
            if goal.start <= today <= goal.end
        ]

    async def milestones_reached(self) -> list[tuple[Month, reports.MilestoneHit]]:
        """Every milestone so far, with the month it was first crossed in (oldest first)."""
        rows = await self.ledger.months()
        totals = await self.ledger.totals_by_month(rows[-1].month) if rows else {}
        convert = reports.Converter(self.config)
        reached: list[tuple[Month, reports.MilestoneHit]] = []
        running: dict[str, int] = {}
        for i, row in enumerate(rows):
            before = convert.total(running)[0]
            for code, amount in totals.get(row.month, {}).items():
                running[code] = running.get(code, 0) + amount
            hits = reports._milestones(self.config, convert, rows[: i + 1], before, convert.total(running)[0])
            reached.extend((Month.from_key(row.month), hit) for hit in hits)
        return reached

    # --- rendering ------------------------------------------------------------------------

    async def bulletin(self, month: Month, locale: str, *, image: bool | None = None) -> Message:
        """The month's news bulletin in ``locale`` (with its chart unless ``image`` is False)."""
        report = await self.report(month, list_limit=self.config.news.named_donors_shown)
        everyone = None
        if report.public_count > len(report.public_donations):
            # The bulletin names as many as news.named_donors_shown; the rest go along as a file,
            # so that everyone who chose to be named is named somewhere.
            everyone, _ = await self.ledger.public_donations(month.key, report.public_count)
        picture = None
        if image if image is not None else self.charts:
            picture = await self.chart(month, locale, report=report)
        news = news_items(self.config, month, locale)
        return self.renderer.bulletin(report, locale, news=news, image=picture, everyone=everyone)

    async def chart(
        self, month: Month, locale: str, *, report: reports.MonthReport | None = None
    ) -> Image | None:
        """The month's chart (donors per month, goal bar), rendered off the event loop."""
        from bot.news import pictures

        report = report or await self.report(month, list_limit=0)
        series = await self.history(month, 24)
        return await asyncio.to_thread(pictures.monthly_chart, self.config, report, series, locale)

    async def goal_image(self, goals: list[reports.GoalProgress], locale: str) -> Image | None:
        from bot.news import pictures

        if not goals or not self.charts:
            return None
        return await asyncio.to_thread(pictures.goal_picture, self.config, goals[0], locale)
