"""Errors every chat adapter raises, so delivery can decide: retry or give up."""

from __future__ import annotations

__all__ = ["DeferredDeliveryError", "DeliveryError", "PermanentDeliveryError", "TransientDeliveryError"]


class DeliveryError(Exception):
    """A message could not be delivered."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying: network error, 5xx, 429 (``retry_after`` seconds when the server said)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Not worth retrying: missing permission, unknown channel or room, encryption unavailable."""


class DeferredDeliveryError(DeliveryError):
    """Worth trying at the next sweep, not again at once: a full disk, a closed output."""
