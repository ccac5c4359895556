"""Discord nonces derived from delivery keys.

With ``enforce_nonce`` Discord answers a second message carrying a nonce it
saw from the same author a few minutes earlier with the first message instead
of posting again: a resend after a crash shows one message. A nonce is at most
25 characters, so it is a digest of the key and the part number, not the key.
"""

from __future__ import annotations

import hashlib

__all__ = ["NONCE_MAX_LENGTH", "nonce_for"]

NONCE_MAX_LENGTH = 25


def nonce_for(key: str, part: int) -> str:
    """The nonce of part ``part`` (0-based) of the delivery ``key``: 24 hex digits, deterministic."""
    if part < 0:
        raise ValueError("part numbers start at 0")
    digest = hashlib.blake2b(f"{key}\x00{part}".encode(), digest_size=12).hexdigest()
    return digest
