"""The pictures are checked by looking at their pixels, not just at the file."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image as PILImage

from bot.chat.message import Image
from bot.months import Month
from bot.news.chart import (
    GOAL_FILL_COLOUR,
    GOAL_TRACK_COLOUR,
    HIGHLIGHT_COLOUR,
    HIGHLIGHT_NEW_COLOUR,
    MAX_MONTHS,
    NEW_COLOUR,
    RETURNING_COLOUR,
    ChartMonth,
    GoalBar,
    render_goal_bar,
    render_monthly_chart,
    text_progress_bar,
)
from bot.news.chart_style import BACKGROUND_COLOUR

RGB = tuple[int, int, int]
BAR_COLOURS = (RETURNING_COLOUR, NEW_COLOUR, HIGHLIGHT_COLOUR, HIGHLIGHT_NEW_COLOUR)


# --- pixel helpers -------------------------------------------------------------------------


def rgb(hex_colour: str) -> RGB:
    value = hex_colour.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def picture(image: Image) -> PILImage.Image:
    loaded = PILImage.open(io.BytesIO(image.data))
    loaded.load()
    return loaded


def pixels(img: PILImage.Image) -> np.ndarray:
    """Height × width × 3 array of the picture's colours."""
    return np.asarray(img.convert("RGB"), dtype=np.int16)


def matches(area: np.ndarray, colour: str, tolerance: int = 6) -> np.ndarray:
    """Where ``area`` (… × 3) is ``colour``, give or take anti-aliasing."""
    return np.all(np.abs(area - np.array(rgb(colour))) <= tolerance, axis=-1)


@dataclass(frozen=True)
class Run:
    start: int
    end: int  # exclusive
    colour: str

    @property
    def centre(self) -> float:
        return (self.start + self.end - 1) / 2

    @property
    def width(self) -> int:
        return self.end - self.start


def runs(line: np.ndarray, colours: tuple[str, ...], min_width: int) -> list[Run]:
    """Stretches of one of ``colours`` along ``line`` (width × 3), at least ``min_width`` wide.

    Glyph strokes are narrower than ``min_width``, so text in a bar colour is not a bar.
    """
    labels = [next((c for c in colours if matches(pixel, c)), None) for pixel in line]
    found: list[Run] = []
    start, current = 0, None
    for x, colour in enumerate([*labels, None]):
        if colour != current:
            if current is not None and x - start >= min_width:
                found.append(Run(start, x, current))
            start, current = x, colour
    return found


def bar_runs(img: PILImage.Image, expected: int) -> list[Run]:
    """The bars seen on the lowest row (just above the x axis) that crosses ``expected`` bars."""
    array = pixels(img)
    any_bar = np.zeros(array.shape[:2], dtype=bool)
    for colour in BAR_COLOURS:
        any_bar |= matches(array, colour)
    for y in range(img.height - 1, 0, -1):
        if any_bar[y].sum() < expected * 12:
            continue
        found = runs(array[y], BAR_COLOURS, min_width=12)
        if len(found) == expected:
            return found
    raise AssertionError(f"no row crosses {expected} bars")


def fill_fraction(img: PILImage.Image, top: int = 0) -> tuple[float, int]:
    """(filled / whole) on the row through the goal bar that shows most of it, and that bar's width."""
    array = pixels(img)[top:]
    fill = matches(array, GOAL_FILL_COLOUR).sum(axis=1)
    track = matches(array, GOAL_TRACK_COLOUR).sum(axis=1)
    y = int(np.argmax(fill + track))
    whole = int(fill[y] + track[y])
    assert whole > 0, "no goal bar in the picture"
    return int(fill[y]) / whole, whole


# --- data ----------------------------------------------------------------------------------


DECEMBER = Month(2025, 12)


def history(count: int, end: Month = DECEMBER) -> list[ChartMonth]:
    first = end.shift(-(count - 1))
    return [
        ChartMonth(first.shift(i), new_donors=20 + i, returning_donors=300 + 10 * i) for i in range(count)
    ]


GOAL = GoalBar("New servers", 37.0, "3,700.00 €", "10,000.00 €")


def chart(months: list[ChartMonth], highlight: Month, locale: str = "en", **kwargs: object) -> Image:
    image = render_monthly_chart(months, highlight, locale, title="Example: donors per month", **kwargs)  # type: ignore[arg-type]
    assert image is not None
    return image


# --- monthly chart -------------------------------------------------------------------------


def test_chart_is_a_png_of_the_announced_size() -> None:
    image = chart(history(12), Month(2025, 12), previous_record=400)
    img = picture(image)
    assert img.format == "PNG"
    assert (img.width, img.height) == (image.width, image.height) == (1200, 675)
    assert image.mime == "image/png"
    assert image.filename == "donors-2025-12.png"


def test_chart_with_goal_keeps_its_size() -> None:
    image = chart(history(24), Month(2025, 12), goal=GOAL)
    assert picture(image).size == (image.width, image.height) == (1200, 675)


def test_background_is_opaque() -> None:
    for image in (chart(history(6), Month(2025, 12), goal=GOAL), render_goal_bar(GOAL, "en")):
        img = picture(image)
        assert "A" not in img.getbands() or img.getextrema()[3] == (255, 255)  # type: ignore[index]
        assert img.info.get("transparency") is None
        array = pixels(img)
        for y, x in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
            assert matches(array[y, x], BACKGROUND_COLOUR, 0)


def test_highlighted_month_is_the_highlight_colour_in_its_place() -> None:
    months = history(9, end=Month(2024, 9))
    image = chart(months, Month(2024, 6), previous_record=500)
    bars = bar_runs(picture(image), 9)
    colours = [bar.colour for bar in bars]
    assert colours == [RETURNING_COLOUR] * 5 + [HIGHLIGHT_COLOUR] + [RETURNING_COLOUR] * 3
    spacing = (bars[-1].centre - bars[0].centre) / 8
    assert spacing > 60
    for index, bar in enumerate(bars):
        assert abs(bar.centre - (bars[0].centre + index * spacing)) <= 1.5
        assert abs(bar.width - bars[0].width) <= 1


def test_a_month_without_donors_keeps_its_slot() -> None:
    months = [m for m in history(12) if m.month != Month(2025, 9)]
    image = chart(months, Month(2025, 12))
    bars = bar_runs(picture(image), 11)
    assert [b.colour for b in bars] == [RETURNING_COLOUR] * 10 + [HIGHLIGHT_COLOUR]
    spacing = bars[1].centre - bars[0].centre
    # September (index 8) is empty: October sits two slots after August.
    assert abs((bars[8].centre - bars[7].centre) - 2 * spacing) <= 2
    assert abs(bars[10].centre - (bars[0].centre + 11 * spacing)) <= 2
    assert "Bar chart of donors per month, from January 2025 to December 2025." in image.alt


def test_new_donors_sit_on_top_of_returning_donors() -> None:
    months = [
        ChartMonth(Month(2025, 1), new_donors=200, returning_donors=200),
        ChartMonth(Month(2025, 2), new_donors=100, returning_donors=100),
        *history(2, end=Month(2025, 4)),
    ]
    img = picture(chart(months, Month(2025, 4)))
    # Walk up the middle of the last (highlighted) bar: returning first, new on top, nothing above.
    bars = bar_runs(img, 4)
    column = pixels(img)[::-1, round(bars[-1].centre)]
    seen = [next((c for c in BAR_COLOURS if matches(p, c)), None) for p in column]
    order = [c for i, c in enumerate(seen) if c is not None and (i == 0 or seen[i - 1] != c)]
    assert order[:2] == [HIGHLIGHT_COLOUR, HIGHLIGHT_NEW_COLOUR]
    assert seen.count(HIGHLIGHT_COLOUR) > 8 * seen.count(HIGHLIGHT_NEW_COLOUR) > 0


def test_at_most_max_months_are_drawn() -> None:
    image = chart(history(30), Month(2025, 12))
    bars = bar_runs(picture(image), MAX_MONTHS)
    assert bars[-1].colour == HIGHLIGHT_COLOUR
    assert "from January 2024 to December 2025" in image.alt


def test_empty_data_gives_no_picture() -> None:
    assert render_monthly_chart([], Month(2025, 12), "en", title="t") is None
    silent = [ChartMonth(Month(2025, m), 0, 0) for m in range(1, 13)]
    assert render_monthly_chart(silent, Month(2025, 12), "fr", title="t", goal=GOAL) is None
    # Data far older than the window ending at the highlighted month is not shown either.
    old = [ChartMonth(Month(2020, 1), 5, 5)]
    assert render_monthly_chart(old, Month(2025, 12), "en", title="t") is None


def test_one_month_gives_one_bar() -> None:
    # The very first month: everybody is new.
    image = chart([ChartMonth(Month(2025, 12), new_donors=42, returning_donors=0)], Month(2025, 12))
    img = picture(image)
    bars = bar_runs(img, 1)
    assert bars[0].colour == HIGHLIGHT_NEW_COLOUR
    # Centred, and not stretched across the whole picture.
    assert abs(bars[0].centre - img.width / 2) < 60
    assert bars[0].width < img.width / 5
    assert image.alt.startswith("Bar chart of donors in December 2025.")


def test_leading_months_before_the_first_donation_are_left_out() -> None:
    months = [ChartMonth(Month(2025, m), 0, 0) for m in range(1, 11)]
    months += [ChartMonth(Month(2025, 11), 10, 0), ChartMonth(Month(2025, 12), 12, 8)]
    image = chart(months, Month(2025, 12))
    bars = bar_runs(picture(image), 2)
    assert [b.colour for b in bars] == [NEW_COLOUR, HIGHLIGHT_COLOUR]
    assert "from November 2025 to December 2025" in image.alt


def test_highlighted_month_without_donors_renders() -> None:
    image = chart(history(3, end=Month(2025, 11)), Month(2025, 12), previous_record=330)
    bars = bar_runs(picture(image), 3)
    assert HIGHLIGHT_COLOUR not in [b.colour for b in bars]
    assert "No donors are recorded in December 2025" in image.alt


def test_odd_input_never_raises() -> None:
    weird = [
        ChartMonth(Month(2025, 12), new_donors=-3, returning_donors=5),
        ChartMonth(Month(2025, 10), new_donors=1, returning_donors=0),
        ChartMonth(Month(2025, 10), new_donors=2, returning_donors=0),  # duplicate: last one wins
    ]
    image = chart(weird, Month(2025, 12), previous_record=0, goal=GoalBar("", float("nan"), "", ""))
    assert picture(image).size == (1200, 675)
    # Text that looks like TeX is drawn as it is, never parsed as maths.
    tex = r"Servers $\undefined{x}^$ and $5"
    image = chart(history(2), Month(2025, 12), goal=GoalBar(tex, 10, "$1", "$10"))
    assert tex in image.alt


def test_locales_change_words_and_picture() -> None:
    months = history(12)
    goal_fr = GoalBar("Nouveaux serveurs", 37.0, "3\u202f700,00\xa0€", "10\u202f000,00\xa0€")
    en = chart(months, Month(2025, 12), "en", previous_record=400, goal=GOAL)
    fr = chart(months, Month(2025, 12), "fr", previous_record=400, goal=goal_fr)
    assert en.alt.startswith("Bar chart of donors per month, from January 2025 to December 2025.")
    assert "In December 2025, the highlighted bar: 441 donors, 31 of them new and 410 returning." in en.alt
    assert "That beats the previous record of 400 donors in a month." in en.alt
    assert "Goal “New servers”: 3,700.00 € of 10,000.00 € (37%)." in en.alt
    assert fr.alt.startswith("Diagramme en barres des donateurs par mois, de janvier 2025 à décembre 2025.")
    assert (
        "En décembre 2025, la barre mise en évidence\u202f: 441 donateurs, dont 31 nouveaux et 410 fidèles."
        in fr.alt
    )
    assert (
        "Objectif «\u202fNouveaux serveurs\u202f»\u202f: 3\u202f700,00\xa0€ sur 10\u202f000,00\xa0€ (37\xa0%)."
        in fr.alt
    )
    # Same data, same goal words: only the locale's month labels and numbers differ.
    en_plain = chart(months, Month(2025, 12), "en")
    fr_plain = chart(months, Month(2025, 12), "fr")
    assert en_plain.data != fr_plain.data
    # The bars themselves are where they were.
    assert [b.start for b in bar_runs(picture(en_plain), 12)] == [
        b.start for b in bar_runs(picture(fr_plain), 12)
    ]


def test_thousands_use_the_locale_grouping() -> None:
    months = [ChartMonth(Month(2025, 11), 100, 1100), ChartMonth(Month(2025, 12), 234, 1000)]
    assert "1,234 donors" in chart(months, Month(2025, 12), "en", previous_record=1200).alt
    assert "1\u202f234 donateurs" in chart(months, Month(2025, 12), "fr", previous_record=1200).alt


def test_record_is_described_when_not_beaten() -> None:
    image = chart(history(6), Month(2025, 10), "en", previous_record=900)
    assert "The dashed line marks the previous record: 900 donors in a month." in image.alt
    assert "The busiest month shown is December 2025 with 375 donors." in image.alt


def test_chart_rendering_is_deterministic_across_threads() -> None:
    months = history(24)

    def draw(locale: str) -> bytes:
        return chart(months, Month(2025, 12), locale, previous_record=500, goal=GOAL).data

    async def together() -> list[bytes]:
        return await asyncio.gather(*(asyncio.to_thread(draw, loc) for loc in ("en", "fr", "en", "fr")))

    results = asyncio.run(together())
    assert results == [draw("en"), draw("fr"), draw("en"), draw("fr")]


# --- goal progress -------------------------------------------------------------------------


@pytest.mark.parametrize(("percent", "expected"), [(0.0, 0.0), (37.0, 0.37), (100.0, 1.0), (130.0, 1.0)])
def test_goal_bar_fill_matches_progress(percent: float, expected: float) -> None:
    image = render_goal_bar(GoalBar("New servers", percent, "x", "y"), "en")
    img = picture(image)
    assert (img.width, img.height) == (image.width, image.height) == (1200, 300)
    fraction, width = fill_fraction(img)
    assert width > 1000
    assert abs(fraction - expected) <= 0.01


@pytest.mark.parametrize(("percent", "expected"), [(0.0, 0.0), (37.0, 0.37), (100.0, 1.0), (130.0, 1.0)])
def test_goal_panel_in_the_chart_matches_progress(percent: float, expected: float) -> None:
    image = chart(history(12), Month(2025, 12), goal=GoalBar("New servers", percent, "x", "y"))
    img = picture(image)
    fraction, width = fill_fraction(img, top=img.height // 2)
    assert width > 1000
    assert abs(fraction - expected) <= 0.01


def test_goal_bar_alt_text_in_both_locales() -> None:
    en = render_goal_bar(GoalBar("New servers", 130, "$13,000.00", "$10,000.00"), "en")
    fr = render_goal_bar(GoalBar("Serveurs", 99.7, "9\u202f970,00\xa0€", "10\u202f000,00\xa0€"), "fr")
    assert en.alt == "Progress bar for the goal “New servers”: $13,000.00 of $10,000.00 (130%)."
    # Not reached yet: never rounded up to 100 %.
    assert fr.alt == (
        "Barre de progression de l’objectif «\u202fServeurs\u202f»\u202f: 9\u202f970,00\xa0€ sur 10\u202f000,00\xa0€ (99\xa0%)."
    )
    assert en.filename == fr.filename == "goal.png"


@pytest.mark.parametrize(
    ("percent", "width", "bar"),
    [
        (0, 10, "▱▱▱▱▱▱▱▱▱▱"),
        (50, 10, "▰▰▰▰▰▱▱▱▱▱"),
        (37, 20, "▰" * 7 + "▱" * 13),
        (100, 10, "▰" * 10),
        (130, 10, "▰" * 10),
        (-5, 10, "▱" * 10),
        (0.4, 10, "▰" + "▱" * 9),  # any progress shows
        (99.9, 10, "▰" * 9 + "▱"),  # full only once reached
        (float("nan"), 4, "▱▱▱▱"),
        (float("inf"), 4, "▰▰▰▰"),
        (50, 1, "▱"),
    ],
)
def test_text_progress_bar(percent: float, width: int, bar: str) -> None:
    assert text_progress_bar(percent, width) == bar


def test_text_progress_bar_default_width_and_bad_width() -> None:
    assert len(text_progress_bar(12.5)) == 20
    with pytest.raises(ValueError, match="width"):
        text_progress_bar(50, 0)
