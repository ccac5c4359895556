"""Donor pseudonyms: HMAC-SHA256 of a platform-qualified identifier under a secret key."""

from __future__ import annotations

import hmac
import unicodedata

__all__ = ["Pseudonymizer", "donor_identity", "normalise_email"]


def normalise_email(email: str) -> str:
    """Lower-case, NFKC, trimmed. Dots and ``+tags`` are kept: they can be distinct people."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def donor_identity(source: str, platform_id: str | None = None, email: str | None = None) -> str | None:
    """The identifier a donor is known by, before hashing.

    An email wins over a platform id so that one person giving through two
    platforms is one donor. Returns None when there is neither (anonymous).
    """
    if email and "@" in email:
        return "email:" + normalise_email(email)
    if platform_id is not None and str(platform_id).strip():
        return f"{source}:{str(platform_id).strip()}"
    return None


def parse_donor_argument(text: str) -> str:
    """What a maintainer typed (``jo@example.com`` or ``kofi:12345``) as an identity."""
    text = text.strip()
    if "@" in text and not text.startswith("@") and ":" not in text.split("@")[0]:
        return "email:" + normalise_email(text)
    if ":" in text:
        return text
    raise ValueError(f"{text!r}: give an email, or a platform id as PLATFORM:ID (e.g. kofi:12345)")


CACHE_SIZE = 50_000


class Pseudonymizer:
    """Turns identities into stable pseudonyms; caches, since donors repeat."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonym key must be at least 16 bytes")
        self._key = key
        self._cache: dict[str, str] = {}

    def __call__(self, identity: str | None) -> str | None:
        if identity is None:
            return None
        found = self._cache.get(identity)
        if found is None:
            found = hmac.digest(self._key, identity.encode(), "sha256").hex()[:32]
            if len(self._cache) >= CACHE_SIZE:
                # Bounded: a ten-million-row import must not keep five million pseudonyms in memory.
                # Recurring donors come back within a file, so a flat cache refilled as it goes suffices.
                self._cache.clear()
            self._cache[identity] = found
        return found
