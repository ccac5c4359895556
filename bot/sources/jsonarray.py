"""Reading an export that is one JSON array of objects, an object at a time.

A platform's JSON export is often a single line: reading it whole could take all the
memory there is. Here the array is decoded one element at a time from a buffer that
never holds more than one element (at most :data:`~bot.sources.csvutil.MAX_ROW_CHARS`)
and the next read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot.sources.csvutil import MAX_LINE_CHARS, MAX_ROW_CHARS

__all__ = ["is_json_array", "json_objects"]

_WHITESPACE = " \t\r\n"
_DECODER = json.JSONDecoder()
_CUT_MARGIN = 8  # the longest token a block may cut: `\uXXXX`, `false`, `null`


def is_json_array(path: Path) -> bool:
    """Whether the file's first character (after a byte-order mark and blanks) opens a JSON array."""
    with path.open("rb") as handle:
        start = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    return start.startswith(b"[")


def json_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each element of the top-level array, numbered from 1.

    Raises:
        ValueError: naming the file and the element, for text that is not a JSON array of
            objects, or an element over :data:`MAX_ROW_CHARS` characters.
    """
    with path.open(encoding="utf-8-sig") as handle:
        reader = _Reader(handle.read)
        if reader.next_char() != "[":
            raise ValueError(f"{path}: not a JSON array")
        reader.position += 1
        number = 0
        while True:
            char = reader.next_char()
            if char == "]":
                return
            if number:
                if char != ",":
                    found = "the end of the file" if not char else repr(char)
                    raise ValueError(f"{path}: after element {number}: `,` or `]` expected, not {found}")
                reader.position += 1
            number += 1
            try:
                value = reader.value()
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: element {number}: not valid JSON ({exc.msg})") from None
            except OverflowError:
                raise ValueError(
                    f"{path}: element {number} runs over {MAX_ROW_CHARS:,} characters: "
                    "this is not a donations export"
                ) from None
            if not isinstance(value, dict):
                raise ValueError(f"{path}: element {number} is not an object")
            yield number, value


class _Reader:
    """A window on the text: what is not yet decoded, refilled a block at a time."""

    def __init__(self, read: Callable[[int], str]) -> None:
        self._read = read
        self.buffer = ""
        self.position = 0

    def _more(self) -> bool:
        block = self._read(MAX_LINE_CHARS)
        self.buffer = self.buffer[self.position :] + block
        self.position = 0
        return bool(block)

    def next_char(self) -> str:
        """The next character that is not a blank ("" at the end of the file), not consumed."""
        while True:
            while self.position < len(self.buffer) and self.buffer[self.position] in _WHITESPACE:
                self.position += 1
            if self.position < len(self.buffer):
                return self.buffer[self.position]
            if not self._more():
                return ""

    def value(self) -> Any:
        """Decode the value that starts at the next character; OverflowError past the limit."""
        self.next_char()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError as exc:
                # Cut by the end of the buffer (a string left open, a token or a value
                # unfinished), more text may complete it; a fault before that will not.
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buffer) - _CUT_MARGIN
                if not cut:
                    raise
                if len(self.buffer) - self.position > MAX_ROW_CHARS:
                    raise OverflowError from None
                if not self._more():
                    raise
                continue
            self.position = end
            return value
