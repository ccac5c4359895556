"""Numbers, money, months and counts of people, said the way people say them, per locale."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

from bot.money import to_decimal
from bot.months import Month

__all__ = ["day", "language", "money", "month_name", "number", "ordinal", "people", "percent"]


def language(locale: str) -> str:
    return Locale.parse(locale).language


def number(value: int | Decimal, locale: str) -> str:
    return str(format_decimal(value, locale=locale))


def money(minor: int, currency: str, locale: str) -> str:
    return str(format_currency(to_decimal(minor, currency), currency, locale=locale))


def percent(value: float, locale: str) -> str:
    """``value`` in percent, rounded (37.5 -> "38 %" in French).

    "100 %" means done: 99.6 is said 99 %, as the goal picture says it.
    """
    shown = round(value)
    if value < 100 <= shown:
        shown = 99
    return str(format_percent(shown / 100, locale=locale))


def day(when: date, locale: str) -> str:
    """ "June 30, 2026" / "30 juin 2026"."""
    return str(format_date(when, "long", locale=locale))


def month_name(month: Month, locale: str) -> str:
    """ "December 2025" / "décembre 2025"."""
    return str(format_date(month.first_day(), "LLLL yyyy", locale=locale))


_EN_UNITS = ["", "a", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_EN_TENS = ["", "ten", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_FR_UNITS = ["", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"]
_FR_TENS = ["", "dix", "vingt", "trente", "quarante", "cinquante", "soixante", "soixante-dix",
            "quatre-vingt", "quatre-vingt-dix"]  # fmt: skip


def _round_below(n: int) -> int | None:
    """The round figure (one significant digit) n exceeds by less than 10 %, from 100 up."""
    if n < 100:
        return None
    scale = 10 ** (len(str(n)) - 1)
    figure = (n // scale) * scale
    return figure if n < figure * 1.1 else None


def _en_words(figure: int) -> str:
    """100..900, 1,000..900,000 and millions with one significant digit, in words."""
    for scale, name in ((1_000_000, "million"), (1000, "thousand"), (100, "hundred")):
        if figure >= scale:
            k = figure // scale
            head = (
                _EN_UNITS[k]
                if k < 10
                else (_EN_TENS[k // 10] if k < 100 else f"{_EN_UNITS[k // 100]} hundred")
            )
            return f"{head} {name}"
    return str(figure)


def _fr_words(figure: int) -> str:
    if figure >= 1_000_000:
        k = figure // 1_000_000
        return "un million" if k == 1 else f"{_FR_UNITS[k] if k < 10 else k} millions"
    if figure >= 1000:
        k = figure // 1000
        if k == 1:
            return "mille"
        head = (
            _FR_UNITS[k]
            if k < 10
            else (_FR_TENS[k // 10] if k < 100 else ("cent" if k == 100 else f"{_FR_UNITS[k // 100]} cent"))
        )
        return f"{head} mille"
    k = figure // 100
    return "cent" if k == 1 else f"{_FR_UNITS[k]} cents"


def people(n: int, locale: str) -> str:
    """How many people, as said aloud: 1,093 -> "more than a thousand people"; else exact figures."""
    figure = _round_below(n)
    if language(locale) == "fr":
        if figure == 100:
            return "plus d'une centaine de personnes"
        if figure == 1000:
            return "plus d'un millier de personnes"
        if figure is not None:
            words = _fr_words(figure)
            de = "d'" if words.startswith("un") else "de "
            return f"plus {de}{words}{' de' if figure >= 1_000_000 else ''} personnes"
        return f"{number(n, locale)} personne{'s' if n > 1 else ''}"
    if figure is not None:
        return f"more than {_en_words(figure)} people"
    return f"{number(n, locale)} {'person' if n == 1 else 'people'}"


def ordinal(n: int, locale: str) -> str:
    """11 -> "11th" (en), "11e" (fr; "1er" for one)."""
    lang = language(locale)
    if lang == "fr":
        return "1er" if n == 1 else f"{n}e"
    if lang == "en":
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"
    return f"{n}."
