"""What every chat adapter offers to delivery: send one rendered message to one target."""

from __future__ import annotations

from typing import Protocol

from bot.chat.message import Message
from bot.config import Target

__all__ = ["MemoryParts", "PartLog", "Sender"]


class PartLog(Protocol):
    """The parts of one delivery already sent, as the outbox recorded them.

    A message posted in several parts (Discord messages of a long bulletin, Matrix
    follow-up events, the chart) names each part (``"0"``, ``"1"``, ``"image"``...).
    The adapter asks :meth:`sent` before posting a part and skips it when it was
    already posted; it calls :meth:`record` as soon as a part is posted, so a
    resend after a crash or an error sends only the rest, under the same keys.
    """

    def sent(self, part: str) -> str | None: ...

    async def record(self, part: str, message_id: str) -> None: ...


class MemoryParts:
    """A :class:`PartLog` kept in memory (one-off sends, tests)."""

    def __init__(self, done: dict[str, str] | None = None) -> None:
        self.done: dict[str, str] = dict(done or {})

    def sent(self, part: str) -> str | None:
        return self.done.get(part)

    async def record(self, part: str, message_id: str) -> None:
        self.done[part] = message_id


class Sender(Protocol):
    """One chat platform's way out.

    ``key`` is the idempotency key of this (target, month) delivery; the adapter
    derives the platform's dedup token from it (Matrix transaction id, Discord
    nonce per part) so that sending again after a crash shows one message.
    ``parts`` tells what was already posted (see :class:`PartLog`).
    Returns the platform's message id(s). Raises TransientDeliveryError (retry)
    or PermanentDeliveryError (give up, with a reason) from bot.chat.errors.
    """

    platform: str

    async def send(
        self, target: Target, message: Message, key: str, parts: PartLog | None = None
    ) -> list[str]: ...

    async def close(self) -> None: ...
