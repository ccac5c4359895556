"""The bulletin's pictures: donors per month as a bar chart, and goal progress bars.

Everything here is pure: data in, PNG bytes out. The functions are meant to run in
a worker thread (``asyncio.to_thread``), so they use matplotlib's object-oriented
API (a ``Figure`` on its own Agg canvas) and never pyplot's global figure state.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Patch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import blended_transform_factory
from PIL import Image as PILImage

from bot.chat.message import Image
from bot.months import Month
from bot.news.chart_style import (
    BACKGROUND_COLOUR,
    CHART_SIZE,
    DPI,
    FONT_FAMILY,
    GOAL_FILL_COLOUR,
    GOAL_SIZE,
    GOAL_TRACK_COLOUR,
    GRID_COLOUR,
    HIGHLIGHT_COLOUR,
    HIGHLIGHT_NEW_COLOUR,
    MUTED_TEXT_COLOUR,
    NEW_COLOUR,
    RECORD_COLOUR,
    RETURNING_COLOUR,
    TEXT_COLOUR,
    words,
)
from bot.news.wording import in_month, month_name

__all__ = [
    "GOAL_FILL_COLOUR",
    "GOAL_TRACK_COLOUR",
    "HIGHLIGHT_COLOUR",
    "HIGHLIGHT_NEW_COLOUR",
    "MAX_MONTHS",
    "NEW_COLOUR",
    "RETURNING_COLOUR",
    "ChartMonth",
    "GoalBar",
    "render_goal_bar",
    "render_monthly_chart",
    "text_progress_bar",
]

MAX_MONTHS = 24

# matplotlib promises nothing about drawing two figures at once from two threads
# (font caches and the text layout cache are shared), so renders take turns. A
# render is a fraction of a second and holds the GIL most of that time anyway.
_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class ChartMonth:
    """One bar: a month and how many distinct people gave in it."""

    month: Month
    new_donors: int
    returning_donors: int
    # First-time donors as the bulletin counts them (identified people only); the bar's "new"
    # part also holds anonymous donations, which can never be told apart as returning.
    announced_new: int | None = None


@dataclass(frozen=True)
class GoalBar:
    """A goal as drawn: labels are already formatted for the locale (e.g. ``"4 210,00 €"``)."""

    title: str
    percent: float
    reached_label: str
    target_label: str


# --- text ----------------------------------------------------------------------------------


def text_progress_bar(percent: float, width: int = 20) -> str:
    """A progress bar made of characters every chat client shows, e.g. ``"▰▰▰▰▰▱▱▱▱▱"``.

    Clamped to 0..100; any progress shows at least one cell, and the bar is only
    full once the goal is reached.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    value = _clamped(percent)
    filled = round(value / 100 * width)
    if value > 0:
        filled = max(filled, 1)
    if value < 100:
        filled = min(filled, width - 1)
    return "▰" * filled + "▱" * (width - filled)


def _clamped(percent: float) -> float:
    if not math.isfinite(percent):
        return 100.0 if percent == math.inf else 0.0
    return min(max(percent, 0.0), 100.0)


def _percent_text(percent: float, locale: str) -> str:
    value = percent if math.isfinite(percent) else 0.0
    value = max(value, 0.0)
    # "100 %" must mean reached: 99.6 % shows as 99 %.
    shown = round(value)
    if value < 100 <= shown:
        shown = 99
    return str(format_percent(shown / 100, locale=locale))


# --- monthly chart -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bar:
    month: Month
    returning: int
    new: int
    announced_new: int = 0  # what the alt text says (the bulletin's figure)

    @property
    def total(self) -> int:
        return self.returning + self.new


def render_monthly_chart(
    months: Sequence[ChartMonth],
    highlight: Month,
    locale: str,
    *,
    title: str,
    previous_record: int | None = None,
    goal: GoalBar | None = None,
) -> Image | None:
    """Donors per month as stacked bars (returning below, new above), ``highlight`` in orange.

    Months before the first donation are left out, gaps are drawn as empty months,
    and at most the last ``MAX_MONTHS`` are shown. ``previous_record`` (the best
    month before this one) is drawn as a dashed line; ``goal`` adds a progress bar
    below the chart.

    Returns:
        The picture (about 1200×675, opaque), or None when no month shown has any donor.
    """
    bars = _bars(months, highlight)
    if bars is None:
        return None
    record = previous_record if previous_record is not None and previous_record > 0 else None
    with _RENDER_LOCK:
        fig = _figure(CHART_SIZE)
        _draw_chart(fig, bars, highlight, locale, title, record, goal)
        data, width, height = _png(fig)
    return Image(
        filename=f"donors-{highlight}.png",
        data=data,
        width=width,
        height=height,
        alt=_chart_alt(bars, highlight, locale, record, goal),
    )


def _bars(months: Sequence[ChartMonth], highlight: Month) -> list[_Bar] | None:
    """The months to draw, contiguous and oldest first; None when there is nothing to show."""
    counts: dict[Month, tuple[int, int]] = {}
    announced: dict[Month, int] = {}
    for item in months:
        counts[item.month] = (max(item.returning_donors, 0), max(item.new_donors, 0))
        if item.announced_new is not None:
            announced[item.month] = max(item.announced_new, 0)
    active = [month for month, (returning, new) in counts.items() if returning + new > 0]
    if not active:
        return None
    last = max(max(active), highlight)
    first = max(min(min(active), highlight), last.shift(-(MAX_MONTHS - 1)))
    bars = []
    month = first
    while month <= last:
        returning, new = counts.get(month, (0, 0))
        bars.append(_Bar(month, returning, new, announced.get(month, new)))
        month = month.next()
    if not any(bar.total for bar in bars):
        return None
    return bars


# Layout in pixels, so that every picture puts things in the same place.
_LEFT, _RIGHT = 78, 28
_TITLE_TOP = 18
_LEGEND_TOP = 58
_CHART_TOP = 96
_CHART_BOTTOM = 72
_GOAL_PANEL_HEIGHT = 104
_GOAL_PANEL_BOTTOM = 20
_GOAL_GAP = 24


def _draw_chart(
    fig: Figure,
    bars: list[_Bar],
    highlight: Month,
    locale: str,
    title: str,
    record: int | None,
    goal: GoalBar | None,
) -> None:
    width, height = CHART_SIZE
    say = words(locale)
    fig.text(
        _LEFT / width,
        1 - _TITLE_TOP / height,
        _shorten(title, 80),
        ha="left",
        va="top",
        fontsize=20,
        fontweight="bold",
        color=TEXT_COLOUR,
        family=FONT_FAMILY,
        parse_math=False,
    )

    bottom = _CHART_BOTTOM
    if goal is not None:
        bottom += _GOAL_PANEL_BOTTOM + _GOAL_PANEL_HEIGHT + _GOAL_GAP
        panel = (_LEFT, _GOAL_PANEL_BOTTOM, width - _LEFT - _RIGHT, _GOAL_PANEL_HEIGHT)
        _draw_goal(fig, panel, goal, locale, big=False)
    ax = fig.add_axes(_fraction(fig, (_LEFT, bottom, width - _LEFT - _RIGHT, height - _CHART_TOP - bottom)))
    ax.set_facecolor(BACKGROUND_COLOUR)

    xs = list(range(len(bars)))
    is_highlight = [bar.month == highlight for bar in bars]
    returning = [bar.returning for bar in bars]
    new = [bar.new for bar in bars]
    ax.bar(
        xs,
        returning,
        width=0.72,
        color=[HIGHLIGHT_COLOUR if h else RETURNING_COLOUR for h in is_highlight],
        linewidth=0,
        zorder=2,
    )
    ax.bar(
        xs,
        new,
        bottom=returning,
        width=0.72,
        color=[HIGHLIGHT_NEW_COLOUR if h else NEW_COLOUR for h in is_highlight],
        linewidth=0,
        zorder=2,
    )

    top = max(max(bar.total for bar in bars), record or 0)
    ax.set_ylim(0, top * 1.2)
    # A lone bar would fill the whole width; keep at least six bar slots.
    pad = max(0.6, (6 - len(bars)) / 2 + 0.5)
    ax.set_xlim(-pad, len(bars) - 1 + pad)

    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: format_decimal(int(value), locale=locale)))
    ax.yaxis.grid(True, color=GRID_COLOUR, linewidth=1)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(MUTED_TEXT_COLOUR)
    ax.tick_params(axis="y", length=0, labelsize=11, labelcolor=MUTED_TEXT_COLOUR, pad=6)
    ax.tick_params(axis="x", length=0, labelsize=11, labelcolor=TEXT_COLOUR, pad=6)

    ax.set_xticks(xs)
    crowded = len(bars) > 12
    labels = ax.set_xticklabels(
        [format_date(bar.month.first_day(), "MMM yy", locale=locale) for bar in bars],
        rotation=45 if crowded else 0,
        ha="right" if crowded else "center",
        rotation_mode="anchor" if crowded else "default",
        family=FONT_FAMILY,
    )
    for label, h in zip(labels, is_highlight, strict=True):
        if h:
            label.set_color(HIGHLIGHT_COLOUR)
            label.set_fontweight("bold")
    for label in ax.get_yticklabels():
        label.set_fontfamily(FONT_FAMILY)

    index = next((i for i, h in enumerate(is_highlight) if h), len(bars) - 1)
    if is_highlight[index]:
        total = bars[index].total
        if total:
            ax.annotate(
                format_decimal(total, locale=locale),
                xy=(index, total),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=13,
                fontweight="bold",
                color=HIGHLIGHT_COLOUR,
                family=FONT_FAMILY,
                zorder=5,
            )

    if record is not None:
        ax.axhline(record, color=RECORD_COLOUR, linestyle=(0, (6, 4)), linewidth=1.6, zorder=3)
        # The label goes on the side away from the highlighted bar, so it never hides it.
        left_side = index >= len(bars) / 2
        ax.text(
            0.01 if left_side else 0.99,
            record,
            say.record(format_decimal(record, locale=locale)),
            transform=blended_transform_factory(ax.transAxes, ax.transData),
            ha="left" if left_side else "right",
            va="bottom",
            fontsize=11,
            color=RECORD_COLOUR,
            family=FONT_FAMILY,
            bbox={"facecolor": BACKGROUND_COLOUR, "edgecolor": "none", "pad": 2.5},
            zorder=4,
            parse_math=False,
        )

    handles = [
        Patch(facecolor=RETURNING_COLOUR, label=say.returning),
        Patch(facecolor=NEW_COLOUR, label=say.new),
        Patch(facecolor=HIGHLIGHT_COLOUR, label=_capitalised(_month_name(highlight, locale))),
    ]
    legend = fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=((_LEFT - 4) / width, 1 - _LEGEND_TOP / height),
        ncol=3,
        frameon=False,
        fontsize=12,
        labelcolor=TEXT_COLOUR,
        handlelength=1.4,
        handleheight=1.0,
        columnspacing=1.8,
        borderaxespad=0,
        borderpad=0,
    )
    for text in legend.get_texts():
        text.set_fontfamily(FONT_FAMILY)


def _chart_alt(
    bars: list[_Bar], highlight: Month, locale: str, record: int | None, goal: GoalBar | None
) -> str:
    say = words(locale)

    def number(value: int) -> str:
        return str(format_decimal(value, locale=locale))

    if len(bars) == 1:
        sentences = [say.alt_one_month(_month_name(bars[0].month, locale))]
    else:
        sentences = [say.alt_chart(_month_name(bars[0].month, locale), _month_name(bars[-1].month, locale))]
    shown = {bar.month: bar for bar in bars}
    current = shown.get(highlight)
    if current is not None and current.total:
        sentences.append(
            say.alt_month(
                in_month(highlight, say.t),
                current.total,
                number(current.total),
                number(current.announced_new),
                number(current.returning),
            )
        )
    elif current is not None:
        sentences.append(say.alt_month_none(in_month(highlight, say.t)))
    if record is not None:
        beaten = current is not None and current.total > record
        sentences.append((say.alt_record_beaten if beaten else say.alt_record)(record, number(record)))
    peak = max(bars, key=lambda bar: bar.total)
    if len(bars) > 1 and peak.month != highlight:
        sentences.append(say.alt_peak(_month_name(peak.month, locale), peak.total, number(peak.total)))
    if goal is not None:
        sentences.append(_goal_sentence(goal, locale, bar_alone=False))
    return " ".join(sentences)


# --- goal bar ------------------------------------------------------------------------------


def render_goal_bar(goal: GoalBar, locale: str) -> Image:
    """A goal's progress bar alone (about 1200×300, opaque), for the goal command."""
    width, height = GOAL_SIZE
    with _RENDER_LOCK:
        fig = _figure(GOAL_SIZE)
        _draw_goal(fig, (48, 34, width - 96, height - 68), goal, locale, big=True)
        data, w, h = _png(fig)
    return Image(
        filename="goal.png", data=data, width=w, height=h, alt=_goal_sentence(goal, locale, bar_alone=True)
    )


def _goal_sentence(goal: GoalBar, locale: str, *, bar_alone: bool) -> str:
    say = words(locale)
    sentence = say.alt_goal_bar if bar_alone else say.alt_goal
    return sentence(goal.title, goal.reached_label, goal.target_label, _percent_text(goal.percent, locale))


def _draw_goal(
    fig: Figure, panel: tuple[float, float, float, float], goal: GoalBar, locale: str, *, big: bool
) -> None:
    """The goal's title and percentage, the bar, and "reached of target" under it.

    ``panel`` is (left, bottom, width, height) in pixels. The axes' data units are
    pixels too, so the bar's round ends stay round.
    """
    say = words(locale)
    _left, _bottom, width, height = panel
    ax = fig.add_axes(_fraction(fig, panel))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()

    heading = 24 if big else 15
    small = 17 if big else 12
    bar_height = 60 if big else 30
    bar_bottom = (height - bar_height) / 2

    text: dict[str, Any] = {"color": TEXT_COLOUR, "family": FONT_FAMILY, "parse_math": False}
    ax.text(0, height, _shorten(goal.title, 60 if big else 90), ha="left", va="top", fontsize=heading,
            fontweight="bold", **text)  # fmt: skip
    ax.text(width, height, _percent_text(goal.percent, locale), ha="right", va="top", fontsize=heading,
            fontweight="bold", **text)  # fmt: skip
    text["color"] = MUTED_TEXT_COLOUR
    ax.text(0, 0, say.of(goal.reached_label, goal.target_label), ha="left",
            va="bottom", fontsize=small, **text)  # fmt: skip
    if _clamped(goal.percent) >= 100:
        text["color"] = GOAL_FILL_COLOUR
        ax.text(width, 0, say.reached, ha="right", va="bottom", fontsize=small, fontweight="bold", **text)

    track = FancyBboxPatch(
        (0, bar_bottom),
        width,
        bar_height,
        boxstyle=f"round,pad=0,rounding_size={bar_height / 2}",
        facecolor=GOAL_TRACK_COLOUR,
        edgecolor="none",
        linewidth=0,
    )
    ax.add_patch(track)
    filled = _clamped(goal.percent) / 100 * width
    if filled > 0:
        fill = Rectangle((0, bar_bottom), filled, bar_height, facecolor=GOAL_FILL_COLOUR, edgecolor="none")
        ax.add_patch(fill)
        fill.set_clip_path(track)


# --- shared --------------------------------------------------------------------------------


def _figure(size: tuple[int, int]) -> Figure:
    width, height = size
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=BACKGROUND_COLOUR)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> tuple[bytes, int, int]:
    """Draw and encode as an RGB PNG: no alpha channel, so no client can show it see-through."""
    width, height = fig.canvas.get_width_height()
    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=DPI, facecolor=BACKGROUND_COLOUR)
    picture = PILImage.frombuffer("RGBA", (width, height), raw.getvalue(), "raw", "RGBA", 0, 1)
    out = io.BytesIO()
    picture.convert("RGB").save(out, format="PNG", compress_level=6)
    return out.getvalue(), width, height


def _fraction(fig: Figure, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A (left, bottom, width, height) box in pixels as fractions of ``fig``."""
    width, height = fig.get_size_inches() * fig.dpi
    left, bottom, w, h = box
    return (left / width, bottom / height, w / width, h / height)


def _month_name(month: Month, locale: str) -> str:
    return month_name(month, locale)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
