"""What webhook parsers share: their outcomes and careful readers of JSON values.

Error messages name the field, never its value: payloads carry emails and names,
and a 400 body or a log line must not repeat them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.dates import EARLIEST_SECONDS, date_problem, latest_seconds
from bot.ledger.models import NewDonation, RefundEvent
from bot.money import MoneyError, is_currency, minor_digits, parse_amount

__all__ = [
    "MAX_MINOR",
    "Ignored",
    "Item",
    "Malformed",
    "Outcome",
    "as_amount",
    "as_bool",
    "as_currency",
    "as_object",
    "as_text",
    "as_time",
    "cents_to_minor",
    "load_json",
    "maybe_object",
]

Item = NewDonation | RefundEvent

# No donation comes near this (10^12 in a two-digit currency); it keeps every sum the
# ledger makes far inside SQLite's 64-bit integers.
MAX_MINOR = 10**14


class Malformed(ValueError):
    """The body cannot be understood (answered 400). The message names a field, not a value."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A genuine event that is not a donation or a refund (answered 202)."""

    reason: str


Outcome = list[Item] | Ignored


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8, bad syntax and integers of thousands of digits;
        # RecursionError a body of nested brackets.
        raise Malformed("body is not JSON") from None


def maybe_object(value: Any) -> dict[str, Any]:
    """An optional nested object: itself when it is one, else empty."""
    return value if isinstance(value, dict) else {}


def as_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{where}: expected an object")
    return value


def as_text(obj: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    """A string (or number, written as a string) field; empty when absent and not required."""
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise Malformed(f"{where}.{key}: missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise Malformed(f"{where}.{key}: expected a string")
    text = str(value).strip()
    if _has_surrogates(text):
        # JSON can escape half a UTF-16 pair; no database or chat would take it.
        raise Malformed(f"{where}.{key}: not valid Unicode")
    return text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def as_bool(value: Any, where: str, *, default: bool = False) -> bool:
    """A boolean, also as the strings some platforms send (``"false"``)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int):
        return value != 0
    raise Malformed(f"{where}: expected true or false")


def as_currency(value: Any, where: str) -> str:
    if not isinstance(value, str) or not is_currency(value.strip().upper()):
        raise Malformed(f"{where}: not an ISO 4217 currency code")
    return value.strip().upper()


def as_amount(value: Any, currency: str, where: str) -> int:
    """A decimal amount in major units (``"3.00"``, ``100.0``, ``5``) as minor units."""
    if isinstance(value, bool) or value is None:
        raise Malformed(f"{where}: missing or not an amount")
    if isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
    else:
        raise Malformed(f"{where}: not an amount")
    problem = Malformed(f"{where}: not a positive amount in {currency}")
    if len(text) > 40:
        raise problem
    try:
        if "e" in text.lower():
            number = Decimal(text)
            # "1e999999999" would be written out digit by digit.
            if not number.is_finite() or abs(number.adjusted()) > 30:
                raise problem
            text = format(number, "f")
        amount = parse_amount(text, currency)
    except (MoneyError, InvalidOperation):
        raise problem from None
    if amount > MAX_MINOR:
        raise Malformed(f"{where}: amount too large")
    return amount


def cents_to_minor(value: Any, currency: str, where: str) -> int:
    """An integer amount in hundredths (how several platforms count every currency)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or (isinstance(value, str) and len(value) > 30)
        or not re.fullmatch(r"\d+", str(value))
    ):
        raise Malformed(f"{where}: expected a whole number of cents")
    cents = int(value)
    if cents > MAX_MINOR:
        raise Malformed(f"{where}: amount too large")
    digits = minor_digits(currency)
    if digits >= 2:
        return cents * int(10 ** (digits - 2))
    divisor = int(10 ** (2 - digits))
    if cents % divisor:
        raise Malformed(f"{where}: fractional amount in {currency}")
    return cents // divisor


def as_time(value: Any, where: str) -> datetime:
    """A Unix timestamp or an ISO 8601 string, as an aware datetime (naive means UTC)."""
    if isinstance(value, bool) or value is None or value == "":
        raise Malformed(f"{where}: missing")
    problem = Malformed(f"{where}: not a date-time")
    try:
        if isinstance(value, Decimal) and (not value.is_finite() or value.adjusted() > 12):
            raise problem  # int() of 1e999999999 would never end
        parsed: datetime | None = None
        if isinstance(value, int | Decimal) or (isinstance(value, str) and re.fullmatch(r"\d{9,11}", value)):
            seconds = int(value)
            if not EARLIEST_SECONDS <= seconds <= latest_seconds():
                raise problem  # before fromtimestamp, which fails on huge numbers
            parsed = datetime.fromtimestamp(seconds, UTC)
        elif isinstance(value, str):
            text = value.strip().replace(" UTC", "+00:00")
            parsed = datetime.fromisoformat(text)
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if parsed is not None:
            # The range the ledger keeps (bot/dates.py): before 1970-01-02 or in the future is refused.
            wrong = date_problem(parsed)
            if wrong is None:
                return parsed
            problem = Malformed(f"{where}: {wrong}")
    except (ValueError, OverflowError, OSError):
        pass
    raise problem
