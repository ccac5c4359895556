"""Colours, sizes and words of the pictures, kept apart from the drawing code.

The palette is chosen to read on both light and dark chat themes: the picture
always has its own opaque, slightly warm background with dark text, so it never
depends on what the client paints behind it.
"""

from __future__ import annotations

__all__ = [
    "BACKGROUND_COLOUR",
    "CHART_SIZE",
    "DPI",
    "FONT_FAMILY",
    "GOAL_FILL_COLOUR",
    "GOAL_SIZE",
    "GOAL_TRACK_COLOUR",
    "GRID_COLOUR",
    "HIGHLIGHT_COLOUR",
    "HIGHLIGHT_NEW_COLOUR",
    "MUTED_TEXT_COLOUR",
    "NEW_COLOUR",
    "RECORD_COLOUR",
    "RETURNING_COLOUR",
    "TEXT_COLOUR",
    "ChartWords",
    "words",
]

DPI = 100
CHART_SIZE = (1200, 675)
GOAL_SIZE = (1200, 300)
FONT_FAMILY = ["DejaVu Sans"]

BACKGROUND_COLOUR = "#f8f6f1"
TEXT_COLOUR = "#1f2933"
MUTED_TEXT_COLOUR = "#52606d"
GRID_COLOUR = "#dcd8cf"

# Returning donors are the solid base of each bar; new donors sit on top in a lighter tint.
RETURNING_COLOUR = "#4f6d9a"
NEW_COLOUR = "#9fbbe0"
# The reported month: the same split, in warm orange instead of blue.
HIGHLIGHT_COLOUR = "#e8590c"
HIGHLIGHT_NEW_COLOUR = "#ffb37a"
RECORD_COLOUR = "#7b2d43"

GOAL_FILL_COLOUR = "#2b9a5a"
GOAL_TRACK_COLOUR = "#dde3ea"


class ChartWords:
    """The picture's words (legend, labels, alt text) in ``locale``'s language, from the catalogues.

    Counts come formatted (``count``) and raw (``n``, which picks the plural form).
    """

    def __init__(self, locale: str) -> None:
        from bot import i18n

        self.t = i18n.texts(locale)

    @property
    def returning(self) -> str:
        return self.t.pgettext("chart legend", "Returning donors")

    @property
    def new(self) -> str:
        return self.t.pgettext("chart legend", "New donors")

    @property
    def reached(self) -> str:
        return self.t.pgettext("goal picture", "Goal reached!")

    def record(self, count: str) -> str:
        return self.t.pgettext("chart: the dashed line", "Previous record: %(count)s") % {"count": count}

    def of(self, reached: str, target: str) -> str:
        return self.t.pgettext("goal picture", "%(reached)s of %(target)s") % {
            "reached": reached,
            "target": target,
        }

    def alt_chart(self, first: str, last: str) -> str:
        text = self.t.pgettext("chart alt text", "Bar chart of donors per month, from %(first)s to %(last)s.")
        return text % {"first": first, "last": last}

    def alt_one_month(self, month: str) -> str:
        return self.t.pgettext("chart alt text", "Bar chart of donors in %(month)s.") % {"month": month}

    def alt_month(self, in_month: str, n: int, total: str, new: str, returning: str) -> str:
        text = self.t.npgettext(
            "chart alt text",
            "%(in_month)s, the highlighted bar: %(total)s donor, %(new)s new and %(returning)s returning.",
            "%(in_month)s, the highlighted bar: %(total)s donors, %(new)s of them new and %(returning)s returning.",
            n,
        )
        filled = text % {"in_month": in_month, "total": total, "new": new, "returning": returning}
        return filled[:1].upper() + filled[1:]

    def alt_month_none(self, in_month: str) -> str:
        text = self.t.pgettext(
            "chart alt text", "No donors are recorded %(in_month)s, the highlighted month."
        )
        return text % {"in_month": in_month}

    def alt_record_beaten(self, n: int, record: str) -> str:
        text = self.t.npgettext(
            "chart alt text",
            "That beats the previous record of %(record)s donor in a month.",
            "That beats the previous record of %(record)s donors in a month.",
            n,
        )
        return text % {"record": record}

    def alt_record(self, n: int, record: str) -> str:
        text = self.t.npgettext(
            "chart alt text",
            "The dashed line marks the previous record: %(record)s donor in a month.",
            "The dashed line marks the previous record: %(record)s donors in a month.",
            n,
        )
        return text % {"record": record}

    def alt_peak(self, month: str, n: int, total: str) -> str:
        text = self.t.npgettext(
            "chart alt text",
            "The busiest month shown is %(month)s with %(total)s donor.",
            "The busiest month shown is %(month)s with %(total)s donors.",
            n,
        )
        return text % {"month": month, "total": total}

    def alt_goal(self, title: str, reached: str, target: str, percent: str) -> str:
        text = self.t.pgettext("chart alt text", "Goal %(title)s: %(reached)s of %(target)s (%(percent)s).")
        return text % {"title": self.quoted(title), "reached": reached, "target": target, "percent": percent}

    def alt_goal_bar(self, title: str, reached: str, target: str, percent: str) -> str:
        text = self.t.pgettext(
            "goal picture alt text",
            "Progress bar for the goal %(title)s: %(reached)s of %(target)s (%(percent)s).",
        )
        return text % {"title": self.quoted(title), "reached": reached, "target": target, "percent": percent}

    def quoted(self, text: str) -> str:
        return self.t.pgettext("quotation marks around a donor's message", "“%(text)s”") % {"text": text}


def words(locale: str) -> ChartWords:
    """The picture's fixed words for ``locale``'s language (English when it has no catalogue)."""
    return ChartWords(locale)
