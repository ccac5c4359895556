"""Money as integer minor units plus an ISO 4217 code. Never floats."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision, list_currencies

__all__ = ["NOT_MONEY", "MoneyError", "is_currency", "minor_digits", "parse_amount", "to_decimal"]

_AMOUNT_RE = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


class MoneyError(ValueError):
    """An amount or currency that cannot be understood."""


# ISO 4217 codes that are no money anyone gives: "no currency" (XXX), the test code (XTS),
# precious metals, bond-market and accounting units. XAF, XOF, XPF, XCD and XCG are real
# currencies and stay.
NOT_MONEY = frozenset(
    {"XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XFO",
     "XFU", "XRE", "XEU"}
)  # fmt: skip


@cache
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies()) - NOT_MONEY


def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 code of money known to Babel (upper case; not XXX, XAU, ...)."""
    return code in _currencies()


@cache
def minor_digits(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (EUR 2, JPY 0, KWD 3)."""
    return int(get_currency_precision(currency))


def parse_amount(text: str, currency: str, *, allow_negative: bool = False) -> int:
    """Parse a plain decimal string (``"25"``, ``"25.5"``, ``"-2.50"``) into minor units.

    Raises MoneyError when the text is not a number, has more decimals than the
    currency allows, or is negative when that is not allowed.
    """
    raw = text.strip()
    if not _AMOUNT_RE.match(raw):
        raise MoneyError(f"{text!r} is not an amount (expected e.g. 25.00)")
    digits = minor_digits(currency)
    whole, _, frac = raw.lstrip("+-").partition(".")
    if len(frac) > digits and frac[digits:].strip("0"):
        raise MoneyError(f"{text!r} has more than {digits} decimals for {currency}")
    frac = (frac[:digits]).ljust(digits, "0")
    value: int = int(whole) * 10**digits + (int(frac) if frac else 0)
    if raw.startswith("-"):
        value = -value
    if value < 0 and not allow_negative:
        raise MoneyError(f"{text!r} is negative")
    return value


def to_decimal(minor: int, currency: str) -> Decimal:
    """Minor units back to an exact Decimal in major units."""
    try:
        return Decimal(minor).scaleb(-minor_digits(currency))
    except InvalidOperation as exc:  # pragma: no cover - Decimal of an int cannot fail
        raise MoneyError(str(exc)) from exc
