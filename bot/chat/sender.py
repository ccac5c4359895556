"""What every chat adapter offers to delivery: send one rendered message to one target."""

from __future__ import annotations

from typing import Protocol

from bot.chat.message import Message
from bot.config import Target

__all__ = ["Sender"]


class Sender(Protocol):
    """One chat platform's way out.

    ``key`` is the idempotency key of this (target, month) delivery; the adapter
    derives the platform's dedup token from it (Matrix transaction id, Discord
    nonce per part) so that sending again after a crash shows one message.
    Returns the platform's message id(s). Raises TransientDeliveryError (retry)
    or PermanentDeliveryError (give up, with a reason) from bot.chat.errors.
    """

    platform: str

    async def send(self, target: Target, message: Message, key: str) -> list[str]: ...

    async def close(self) -> None: ...
