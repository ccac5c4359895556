"""A tiny valid PNG for tests that send pictures without drawing a chart."""

from __future__ import annotations

import struct
import zlib

__all__ = ["tiny_png"]


def tiny_png(width: int = 3, height: int = 2, rgb: bytes = b"\xff\x80\x00") -> bytes:
    """A ``width`` x ``height`` PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
