"""The console target: bulletins printed to standard output (and pictures written to a folder).

A bulletin is two parts: ``text`` (printed, then flushed) and ``image`` (the chart,
written to a temporary file then renamed, so a full disk never leaves half a
PNG). Each part is recorded as soon as it is done, so a retry after a failure
(a full disk while writing the chart) does only the rest and never prints the
text twice. A closed output (``donorbot post | head``) is an error: the
bulletin was not delivered.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from bot.chat.errors import DeferredDeliveryError
from bot.chat.message import Message
from bot.chat.sender import MemoryParts, PartLog
from bot.config import ConsoleTarget, Target

__all__ = ["ConsoleSender", "write_atomically"]


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file in the same folder, then a rename."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _write_beside(path: Path, data: bytes, what: str, label: str, stream: TextIO) -> None:
    """Write a part that goes along with the printed text, then say where it is.

    Raises:
        DeferredDeliveryError: it could not be written (a full disk): the delivery stays
            pending with the reason, and a retry writes only what is missing.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        why = "the disk is full" if full else (exc.strerror or str(exc))
        raise DeferredDeliveryError(
            f"the bulletin was printed but {what} could not be written to {path}: {why}"
        ) from exc
    try:
        print(f"[{label}: {path}]\n", file=stream)
        stream.flush()
    except (BrokenPipeError, ValueError, OSError):
        pass  # the file is on disk, which is what this part is


class ConsoleSender:
    """Prints the message as a reader sees it (or, with ``format = "markdown"``, its source)."""

    platform = "console"

    def __init__(self, stream: TextIO | None = None, default_dir: Path | None = None) -> None:
        self._stream = stream
        self._default_dir = default_dir

    async def send(
        self, target: Target, message: Message, key: str, parts: PartLog | None = None
    ) -> list[str]:
        parts = parts if parts is not None else MemoryParts()
        stream = self._stream or sys.stdout
        if parts.sent("text") is None:
            markdown = isinstance(target, ConsoleTarget) and target.format == "markdown"
            try:
                print((message.markdown if markdown else message.text) + "\n", file=stream)
                stream.flush()
            except (BrokenPipeError, ValueError) as exc:  # ValueError: the stream was closed
                raise DeferredDeliveryError(
                    "standard output is closed (broken pipe): the bulletin was not printed"
                ) from exc
            except OSError as exc:
                raise DeferredDeliveryError(f"cannot print the bulletin: {exc.strerror or exc}") from exc
            await parts.record("text", key)
        ids = [key]
        folder = (target.output_dir if isinstance(target, ConsoleTarget) else None) or self._default_dir
        if message.image is not None and folder is not None:
            path = folder / f"{key}.png"
            if parts.sent("image") is None:
                _write_beside(path, message.image.data, "its chart", "chart", stream)
                await parts.record("image", str(path))
            ids.append(str(path))
        # Files that go along (the full list of named donors) are written next to the chart.
        for number, attachment in enumerate(message.attachments):
            if folder is None:
                break
            path = folder / f"{key}-{Path(attachment.filename).name}"
            part = f"attachment-{number}"
            if parts.sent(part) is None:
                _write_beside(path, attachment.data, attachment.filename, attachment.filename, stream)
                await parts.record(part, str(path))
            ids.append(str(path))
        return ids

    async def close(self) -> None:
        return None
