"""Numbers, money, months and counts of people, said the way people say them, per locale.

Formats (digits, separators, currency signs, month names) come from CLDR through
Babel; words come from the gettext catalogue ``t`` (see bot.i18n). ``locale`` is
the formatting locale (``fr_CA``), which may differ from the catalogue's (``fr``).
"""

from __future__ import annotations

import copy
import unicodedata
from datetime import date
from decimal import Decimal
from gettext import NullTranslations

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_currency, format_decimal, format_percent, get_currency_symbol

from bot.money import to_decimal
from bot.months import Month

__all__ = [
    "amount",
    "day",
    "in_month",
    "language",
    "money",
    "month_name",
    "number",
    "ordinal",
    "people",
    "percent",
    "quoted",
]

NBSP = "\u00a0"


def language(locale: str) -> str:
    return Locale.parse(locale).language


def number(value: int | Decimal, locale: str) -> str:
    return str(format_decimal(value, locale=locale))


def _spaced(text: str, currency: str, locale: str) -> str:
    """CLDR's currencySpacing, which Babel leaves out: "CHF100.00" -> "CHF 100.00" (no-break).

    A symbol that ends (or begins) with a letter is kept apart from the digits next to it;
    a sign such as € or $ is not.
    """
    symbol = str(get_currency_symbol(currency, locale=locale))
    at = text.find(symbol)
    if at < 0 or not symbol:
        return text
    end = at + len(symbol)
    if end < len(text) and text[end].isdigit() and not unicodedata.category(symbol[-1]).startswith("S"):
        return text[:end] + NBSP + text[end:]
    if at > 0 and text[at - 1].isdigit() and not unicodedata.category(symbol[0]).startswith("S"):
        return text[:at] + NBSP + text[at:]
    return text


def money(minor: int, currency: str, locale: str) -> str:
    """An amount in minor units, as CLDR writes it: "€1,234.50", "1 234,50 €", "CHF 100.00"."""
    text = str(format_currency(to_decimal(minor, currency), currency, locale=locale))
    return _spaced(text, currency, locale)


def amount(major: Decimal | int, currency: str, locale: str) -> str:
    """A round amount in major units (a milestone): "€1,000", "1 000 €"; cents only when it has some."""
    value = Decimal(major)
    if value != value.to_integral_value():
        return _spaced(str(format_currency(value, currency, locale=locale)), currency, locale)
    parsed = Locale.parse(locale)
    pattern = copy.copy(parsed.currency_formats["standard"])
    pattern.frac_prec = (0, 0)
    text = pattern.apply(value, parsed, currency=currency, currency_digits=False)
    return _spaced(str(text), currency, locale)


def percent(value: float, locale: str) -> str:
    """``value`` in percent, rounded (37.5 -> "38 %" in French).

    "100 %" means done: 99.6 is said 99 %, as the goal picture says it.
    """
    shown = round(value)
    if value < 100 <= shown:
        shown = 99
    return str(format_percent(shown / 100, locale=locale))


def day(when: date, locale: str) -> str:
    """ "June 30, 2026" / "30 juin 2026" / "1er juillet 2026"."""
    text = str(format_date(when, "long", locale=locale))
    if language(locale) == "fr" and when.day == 1 and text.startswith("1 "):
        text = "1er" + text[1:]  # French says the first of the month as an ordinal
    return text


def month_name(month: Month, locale: str) -> str:
    """A month standing alone (a title, a list): "December 2025", "décembre 2025", "marzo de 2026"."""
    return str(format_skeleton("yMMMM", month.first_day(), locale=locale))


def in_month(month: Month, t: NullTranslations) -> str:
    """ "in March 2026", "en mars 2026", "im März 2026", "w marcu 2026": each language's own form."""
    year = str(month.year)
    forms = (
        t.pgettext("in a month", "in January %(year)s"),
        t.pgettext("in a month", "in February %(year)s"),
        t.pgettext("in a month", "in March %(year)s"),
        t.pgettext("in a month", "in April %(year)s"),
        t.pgettext("in a month", "in May %(year)s"),
        t.pgettext("in a month", "in June %(year)s"),
        t.pgettext("in a month", "in July %(year)s"),
        t.pgettext("in a month", "in August %(year)s"),
        t.pgettext("in a month", "in September %(year)s"),
        t.pgettext("in a month", "in October %(year)s"),
        t.pgettext("in a month", "in November %(year)s"),
        t.pgettext("in a month", "in December %(year)s"),
    )
    return forms[month.month - 1] % {"year": year}


def _round_below(n: int) -> int | None:
    """The round figure (one significant digit) n exceeds by less than 10 %, from 100 up."""
    if n <= 100:
        return None
    scale = 10 ** (len(str(n)) - 1)
    figure = (n // scale) * scale
    return figure if figure < n < figure * 1.1 else None


def people(n: int, t: NullTranslations, locale: str) -> str:
    """How many people gave, as said aloud after "donations from": 1,093 -> "more than a thousand people".

    Exact figures below a hundred and away from round ones ("87 people", "1,250 people").
    """
    figure = _round_below(n)
    if figure == 100:
        return t.pgettext("donations from …", "more than a hundred people")
    if figure == 1000:
        return t.pgettext("donations from …", "more than a thousand people")
    if figure == 1_000_000:
        return t.pgettext("donations from …", "more than a million people")
    if figure is not None:
        text = t.npgettext("donations from …", "more than %(num)s person", "more than %(num)s people", figure)
        return text % {"num": number(figure, locale)}
    text = t.npgettext("donations from …", "%(num)s person", "%(num)s people", n)
    return text % {"num": number(n, locale)}


def ordinal(n: int, t: NullTranslations, rules: str) -> str:
    """11 -> "11th", "11e", "11.", "11.ª": the suffix for the CLDR ordinal category of ``n`` in ``rules``."""
    form = Locale.parse(rules).ordinal_form(n)
    if form == "one":
        pattern = t.pgettext("ordinal of a donation, CLDR category 'one' (en: 1st, 21st)", "%(num)sst")
    elif form == "two":
        pattern = t.pgettext("ordinal of a donation, CLDR category 'two' (en: 2nd, 22nd)", "%(num)snd")
    elif form == "few":
        pattern = t.pgettext("ordinal of a donation, CLDR category 'few' (en: 3rd, 23rd)", "%(num)srd")
    elif form == "many":
        pattern = t.pgettext("ordinal of a donation, CLDR category 'many'", "%(num)sth")
    else:
        pattern = t.pgettext("ordinal of a donation, CLDR category 'other' (en: 4th, 11th)", "%(num)sth")
    return pattern % {"num": n}


def quoted(text: str, t: NullTranslations) -> str:
    """``text`` between the language's quotation marks (“…”, « … », „…“), spaced as it wants."""
    return t.pgettext("quotation marks around a donor's message", "“%(text)s”") % {"text": text}
