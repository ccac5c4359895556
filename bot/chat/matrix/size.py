"""How big an event is once the homeserver has it, so that none is refused with ``M_TOO_LARGE``.

A homeserver refuses an event whose canonical JSON (the whole PDU: content plus
room id, sender, hashes, signatures, auth and prev events) exceeds 65,536 bytes
(client-server spec, "Size limits"). In an encrypted room the content is a
Megolm ciphertext: nio serialises the plaintext event as ASCII JSON (every
non-ASCII character escaped as ``\\uXXXX``), Olm pads it to whole AES blocks and
adds its header, MAC and signature, and the result is unpadded base64, about
4/3 of the plaintext, inside an ``m.room.encrypted`` envelope. Both sizes are
computed before sending, with a margin for the PDU's own fields.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["EVENT_LIMIT", "PDU_RESERVE", "content_budget", "event_size"]

EVENT_LIMIT = 65_536
# The PDU's fields around the content: ids, hashes, signatures, auth_events, prev_events
# (measured at about 1 KB on Synapse; a busy room's prev_events can add more).
PDU_RESERVE = 4_096
# Around a Megolm plaintext: {"type":"m.room.message","content":...,"room_id":"!...:server"}.
_PLAINTEXT_ENVELOPE = 120
# The Megolm message's own bytes: version, index, length tags, block padding, MAC, signature.
_MEGOLM_OVERHEAD = 1 + 6 + 4 + 16 + 8 + 64
# {"algorithm":"m.megolm.v1.aes-sha2","sender_key":..,"ciphertext":..,"session_id":..,"device_id":..}
_ENCRYPTED_ENVELOPE = 320


def _utf8(content: Any) -> int:
    return len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _ascii(content: Any) -> int:
    return len(json.dumps(content, separators=(",", ":")))


def event_size(content: dict[str, Any], encrypted: bool) -> int:
    """Bytes the content takes in the event the homeserver stores (plaintext or ciphertext)."""
    if not encrypted:
        return max(_utf8(content), _ascii(content))
    plaintext = _ascii(content) + _PLAINTEXT_ENVELOPE
    return math.ceil((plaintext + _MEGOLM_OVERHEAD) * 4 / 3) + _ENCRYPTED_ENVELOPE


def content_budget() -> int:
    """The most bytes :func:`event_size` may give for an event to be accepted."""
    return EVENT_LIMIT - PDU_RESERVE
