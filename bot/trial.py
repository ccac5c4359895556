"""A trial render of every message the bot can post, before the day it is due.

A template that compiles can still fail when it runs (an undefined name, a filter
applied to the wrong thing), and only on the branch that runs: ``check-config``
and ``run`` render every message the bot posts or answers (the bulletin, each
command's reply, an alert of each kind, a thanks) in every language in use,
first on the ledger's own last complete month, then on a small sample month
(named donors with a message, an organisation, a monthly donor, a record) so
the branches an empty ledger never takes are tried too. Nothing is posted and no
donation is written to the ledger: the sample lives in a temporary ledger, which
also gives a month without donations.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bot.announcements import GoalReached
from bot.chat.commands import COMMANDS, CommandService, Invocation
from bot.config import Config
from bot.core import Core
from bot.ledger.models import DonorKind, NewDonation
from bot.ledger.store import Ledger
from bot.months import Month
from bot.news.render import Renderer, RenderError
from bot.news.report import MilestoneHit

__all__ = ["locales_in_use", "trial_render"]

_SAMPLE_KEY = b"trial-render-sample-key-0123456789"


def locales_in_use(config: Config) -> list[str]:
    """The project's language and every enabled target's."""
    found = [config.project.locale] + [config.locale_of(t) for t in config.targets if t.enabled]
    return list(dict.fromkeys(found))


def _sample(month: Month) -> list[NewDonation]:
    start = datetime(month.year, month.month, 2, 12, tzinfo=UTC)

    def gift(n: int, **values: object) -> NewDonation:
        base: dict[str, object] = {
            "source": "trial",
            "external_id": f"trial-{n}",
            "amount": 2500,
            "currency": "EUR",
            "received_at": start + timedelta(hours=n),
            "donor_id": f"trial:{n}",
        }
        base.update(values)
        return NewDonation(**base)  # type: ignore[arg-type]

    earlier = month.prev()
    return [
        gift(0, received_at=datetime(earlier.year, earlier.month, 3, 12, tzinfo=UTC), donor_id="trial:1"),
        gift(1, public=True, display_name="Ada", message="Thank you!", recurring=True),
        gift(2, public=True, display_name="Grace", amount=100000),
        gift(3, public=True, display_name="Example Hosting", kind=DonorKind.ORGANISATION, amount=50000),
        gift(4, donor_id=None, amount=500),
        gift(5, currency="USD", amount=1000),
    ]


async def _render_all(core: Core, month: Month, locales: Iterable[str], now: datetime) -> list[str]:
    problems: list[str] = []
    service = CommandService(core, now=lambda: now)
    renderer = core.renderer
    milestones: list[MilestoneHit | GoalReached] = [
        MilestoneHit("monthly_donors", 1000),
        MilestoneHit("total_donors", 1000),
        MilestoneHit("total_amount", Decimal(1000)),
    ]
    milestones += [GoalReached(goal.name, goal.title) for goal in core.config.goals[:1]]
    thanks = {"name": "Ada", "message": "Thank you!", "ordinal": 2}
    for locale in locales:
        what = f"the {month} bulletin in {locale}"
        try:
            await core.bulletin(month, locale, image=False)
            for spec in COMMANDS:
                if spec.admin_only:  # posting is not a trial
                    continue
                what = f"the reply to {spec.name} in {locale}"
                await service._handle(Invocation(spec.name, locale=locale, is_admin=True))
            what = f"an alert in {locale}"
            for milestone in milestones:
                renderer.reply("alert", locale, milestone=milestone)
            what = f"a thanks in {locale}"
            renderer.reply("thanks", locale, donation=thanks)
        except RenderError as exc:
            problems.append(f"{exc} (while rendering {what})")
    return problems


async def trial_render(config: Config, *, now: datetime | None = None) -> list[str]:
    """Every problem found rendering every message, each naming its template and line."""
    moment = now or datetime.now(UTC)
    renderer = Renderer(config)
    locales = locales_in_use(config)
    problems: list[str] = []
    if config.ledger_path.is_file():
        ledger = await Ledger.open(config.ledger_path, config.project.tz, None)
        core = Core(config, ledger, renderer)
        core.charts = False  # the words are on trial, not the pictures (matplotlib takes seconds)
        try:
            problems += await _render_all(core, core.last_complete_month(moment), locales, moment)
        finally:
            await core.close()
    with tempfile.TemporaryDirectory(prefix="donorbot-trial-") as folder:
        ledger = await Ledger.open(Path(folder) / "sample.sqlite3", config.project.tz, _SAMPLE_KEY)
        core = Core(config, ledger, renderer)
        core.charts = False
        try:
            month = core.last_complete_month(moment)
            await ledger.write(_sample(month))
            problems += await _render_all(core, month, locales, moment)
            for locale in locales:  # and a month nobody gave in
                try:
                    await core.bulletin(month.shift(-6), locale, image=False)
                except RenderError as exc:
                    problems.append(f"{exc} (while rendering a month without donations in {locale})")
        finally:
            await core.close()
    return list(dict.fromkeys(problems))
