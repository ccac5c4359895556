"""From report figures to the chart module's inputs (labels formatted per locale)."""

from __future__ import annotations

from bot.chat.message import Image
from bot.config import Config
from bot.news import chart, wording
from bot.news.report import GoalProgress, MonthFigures, MonthReport

__all__ = ["goal_bar", "goal_picture", "monthly_chart"]


def goal_bar(goal: GoalProgress, locale: str) -> chart.GoalBar:
    if goal.target_amount is not None:
        reached = wording.money(goal.reached_amount, goal.currency, locale)
        target = wording.money(goal.target_amount, goal.currency, locale)
    else:
        reached = wording.number(goal.reached_donors, locale)
        target = wording.number(goal.target_donors or 0, locale)
    return chart.GoalBar(title=goal.title, percent=goal.percent, reached_label=reached, target_label=target)


def monthly_chart(
    config: Config, report: MonthReport, series: list[MonthFigures], locale: str
) -> Image | None:
    # An anonymous donation cannot be recognised next time: like the report's "people since the
    # beginning", it counts as a new donor, never as a returning one. The bar stays the month's donors.
    months = [
        chart.ChartMonth(
            month=m.month,
            new_donors=m.donors - m.returning_donors,
            returning_donors=m.returning_donors,
            announced_new=m.new_donors,  # the alt text agrees with the bulletin
        )
        for m in series
    ]
    # Leading months without any donation say nothing: start the chart at the first one.
    while months and months[0].new_donors + months[0].returning_donors == 0:
        months.pop(0)
    if not months:
        return None
    title = f"{config.project.name} – {wording.month_name(report.month, locale)}"
    return chart.render_monthly_chart(
        months,
        report.month,
        locale,
        title=title,
        previous_record=report.previous_record_donors,
        goal=goal_bar(report.goals[0], locale) if report.goals else None,
    )


def goal_picture(config: Config, goal: GoalProgress, locale: str) -> Image:
    return chart.render_goal_bar(goal_bar(goal, locale), locale)
