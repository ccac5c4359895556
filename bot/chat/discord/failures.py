"""discord.py's exceptions, translated into delivery's two kinds: retry later, or give up."""

from __future__ import annotations

import asyncio

import aiohttp
import discord

from bot.chat.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

__all__ = ["delivery_error"]

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
        return TransientDeliveryError(
            f"{where}: rate limited by Discord for {exc.retry_after:.1f} s", retry_after=exc.retry_after
        )
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
        return TransientDeliveryError(f"{where}: rate limited ({said})", retry_after=_retry_after(exc))
    if status >= 500:
        return TransientDeliveryError(f"{where}: Discord is unwell ({said})", retry_after=_retry_after(exc))
    if status == 401:
        return PermanentDeliveryError("Discord refused the bot token (401): check discord.token_env")
    if status == 403:
        return PermanentDeliveryError(f"{where}: forbidden ({said}); check the bot's permissions there")
    if status == 404:
        return PermanentDeliveryError(f"{where}: not found ({said}); check the channel id")
    return PermanentDeliveryError(f"{where}: Discord refused it ({said})")


def _retry_after(exc: discord.HTTPException) -> float | None:
    header = exc.response.headers.get("Retry-After")
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None
