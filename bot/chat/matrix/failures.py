"""Homeserver answers and transport errors, turned into retry-or-give-up decisions."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientError
from nio import ErrorResponse
from nio.exceptions import SendRetryError

from bot.chat.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

__all__ = ["TRANSPORT_ERRORS", "from_exception", "from_response"]

# What a request to an unreachable or hanging homeserver raises (nio's own retries are off).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (ClientError, TimeoutError, asyncio.TimeoutError, OSError)

_RETRYABLE_CODES = {"M_LIMIT_EXCEEDED"}


def _status(answer: Any) -> int | None:
    transport = getattr(answer, "transport_response", None)
    status = getattr(transport, "status", None)
    return status if isinstance(status, int) else None


def from_response(answer: ErrorResponse, doing: str) -> DeliveryError:
    """The delivery error for an error answer to ``doing`` (e.g. "sending to !room:server")."""
    status = _status(answer)
    code = answer.status_code or (f"HTTP {status}" if status else "error")
    reason = f"{doing}: {code} {answer.message}".strip()
    if code in _RETRYABLE_CODES or status == 429:
        retry = answer.retry_after_ms / 1000 if answer.retry_after_ms else None
        return TransientDeliveryError(f"{doing}: rate limited by the homeserver", retry_after=retry)
    if status is not None and status >= 500:
        return TransientDeliveryError(f"{doing}: the homeserver failed (HTTP {status})")
    if code == "M_FORBIDDEN":
        return PermanentDeliveryError(
            f"{doing}: forbidden ({answer.message}); check the bot's membership and power level"
        )
    if code in ("M_NOT_FOUND", "M_UNKNOWN") or status == 404:
        return PermanentDeliveryError(f"{doing}: unknown room ({answer.message})")
    if code == "M_UNKNOWN_TOKEN":
        return PermanentDeliveryError(f"{doing}: the access token was refused ({answer.message})")
    return PermanentDeliveryError(reason)


def from_exception(exc: BaseException, doing: str) -> DeliveryError:
    """The delivery error for a transport failure while ``doing``."""
    if isinstance(exc, SendRetryError):
        return TransientDeliveryError(f"{doing}: could not load the room's members and keys ({exc})")
    detail = str(exc) or type(exc).__name__
    return TransientDeliveryError(f"{doing}: cannot reach the homeserver ({detail})")
