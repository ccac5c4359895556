"""discord.py's exceptions, translated into delivery's kinds: retry, retry at the next sweep, or give up.

discord.py is the one retry layer for Discord's REST answers: it waits out rate
limits (up to ``max_ratelimit_timeout``) and tries a 500, 502, 504 or 524 five
times with a backoff before raising. What escapes it has been retried already,
so it is *deferred* to the next sweep rather than retried again at once (which
stacked 5 x 5 identical POSTs on a persistent 500); a rate limit longer than
discord.py waits keeps its window in the reason.
"""

from __future__ import annotations

import asyncio

import aiohttp
import discord

from bot.chat.errors import (
    DeferredDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = ["delivery_error", "retry_after_of"]

# Discord's JSON error codes that deserve their own words.
_CODES = {
    10003: "unknown channel",
    10008: "unknown message",
    50001: "the bot cannot see this channel (Missing Access)",
    50013: "the bot lacks a permission in this channel (Missing Permissions)",
    50035: "Discord found the message invalid (Invalid Form Body)",
}


def delivery_error(exc: BaseException, where: str) -> DeliveryError:
    """The delivery error for ``exc``, raised while talking to Discord about ``where``."""
    if isinstance(exc, discord.RateLimited):
        return DeferredDeliveryError(f"{where}: rate limited by Discord for {exc.retry_after:.0f} s")
    if isinstance(exc, discord.LoginFailure):
        return PermanentDeliveryError("Discord refused the bot token (401): check discord.token_env")
    if isinstance(exc, discord.HTTPException):
        return _from_status(exc, where)
    if isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        return TransientDeliveryError(f"{where}: cannot reach Discord ({type(exc).__name__}: {exc})")
    return TransientDeliveryError(f"{where}: {type(exc).__name__}: {exc}")


def _from_status(exc: discord.HTTPException, where: str) -> DeliveryError:
    status = exc.status
    detail = _CODES.get(exc.code) or exc.text or exc.response.reason or ""
    said = f"HTTP {status}" + (f", code {exc.code}" if exc.code else "") + (f": {detail}" if detail else "")
    if status == 429:
        later = retry_after_of(exc)
        return DeferredDeliveryError(
            f"{where}: rate limited ({said})" + (f" for {later:.0f} s" if later else "")
        )
    if status >= 500:
        return DeferredDeliveryError(f"{where}: Discord is unwell ({said}), after discord.py's retries")
    if status == 401:
        return PermanentDeliveryError("Discord refused the bot token (401): check discord.token_env")
    if status == 403:
        return PermanentDeliveryError(f"{where}: forbidden ({said}); check the bot's permissions there")
    if status == 404:
        return PermanentDeliveryError(f"{where}: not found ({said}); check the channel id")
    return PermanentDeliveryError(f"{where}: Discord refused it ({said})")


def retry_after_of(exc: discord.HTTPException) -> float | None:
    """The Retry-After header of an answer, in seconds (None when absent or unreadable)."""
    header = exc.response.headers.get("Retry-After")
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None
