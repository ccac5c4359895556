"""Signature schemes of the platforms, each compared in constant time.

Every check returns ``None`` when the request is authentic, else a short
problem for the log (never the secret, never the expected value).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "hmac_hex",
    "same_secret",
    "verify_donorbox",
    "verify_github",
    "verify_hex_hmac",
    "verify_stripe",
]


def hmac_hex(key: str | bytes, message: bytes, algorithm: str = "sha256") -> str:
    """Hex HMAC of ``message`` under ``key``."""
    raw_key = key.encode() if isinstance(key, str) else key
    return hmac.new(raw_key, message, getattr(hashlib, algorithm)).hexdigest()


def _same_hex(expected: str, given: str) -> bool:
    # compare_digest on bytes is constant time for equal lengths; lower-case so "ABC" == "abc".
    return hmac.compare_digest(
        expected.lower().encode("ascii"), given.strip().lower().encode("ascii", "replace")
    )


def same_secret(expected: str, given: str | None) -> bool:
    """A shared token (Ko-fi's verification token, a secret URL segment)."""
    if not given:
        return False
    # surrogatepass: a JSON body can carry half a UTF-16 pair, which plain encode() refuses.
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


def verify_hex_hmac(secret: str, body: bytes, header: str | None, algorithm: str = "sha256") -> str | None:
    """A header holding the hex HMAC of the raw body (Buy Me a Coffee, HelloAsso, Patreon's MD5)."""
    if not header:
        return "signature header missing"
    if not _same_hex(hmac_hex(secret, body, algorithm), header):
        return "signature does not match"
    return None


def verify_github(secret: str, body: bytes, header: str | None) -> str | None:
    """``X-Hub-Signature-256: sha256=<hex>``."""
    if not header:
        return "X-Hub-Signature-256 missing"
    scheme, _, digest = header.strip().partition("=")
    if scheme != "sha256" or not digest:
        return "X-Hub-Signature-256 is not sha256=<hex>"
    if not _same_hex(hmac_hex(secret, body), digest):
        return "signature does not match"
    return None


def _timestamp(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 12 else None


def verify_stripe(secret: str, body: bytes, header: str | None, now: float, tolerance: int) -> str | None:
    """``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>]``, signed over ``"{t}.{body}"``.

    Accepted when any ``v1`` matches and ``t`` is within ``tolerance`` seconds of now,
    which is what makes a captured request useless for replay later.
    """
    if not header:
        return "Stripe-Signature missing"
    stamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            stamp = _timestamp(value)
        elif key == "v1" and value:
            candidates.append(value)
    if stamp is None or not candidates:
        return "Stripe-Signature lacks t= or v1="
    expected = hmac_hex(secret, f"{stamp}.".encode() + body)
    # Check every candidate, so timing does not reveal which one matched.
    matched = False
    for candidate in candidates:
        matched |= _same_hex(expected, candidate)
    if not matched:
        return "signature does not match"
    if abs(now - stamp) > tolerance:
        return f"timestamp outside the {tolerance} s tolerance"
    return None


def verify_donorbox(secret: str, body: bytes, header: str | None, now: float, tolerance: int) -> str | None:
    """``Donorbox-Signature: <unix>,<hex>`` = HMAC-SHA256 over ``"{ts}.{body}"``, ts recent."""
    if not header:
        return "Donorbox-Signature missing"
    stamp_text, _, digest = header.partition(",")
    stamp = _timestamp(stamp_text)
    if stamp is None or not digest.strip():
        return "Donorbox-Signature is not <timestamp>,<hex>"
    if not _same_hex(hmac_hex(secret, f"{stamp}.".encode() + body), digest):
        return "signature does not match"
    if abs(now - stamp) > tolerance:
        return f"timestamp outside the {tolerance} s tolerance"
    return None
