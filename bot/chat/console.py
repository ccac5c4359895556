"""The console target: bulletins printed to standard output (and pictures written to a folder)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from bot.chat.message import Message
from bot.chat.sender import PartLog
from bot.config import ConsoleTarget, Target

__all__ = ["ConsoleSender"]


class ConsoleSender:
    """Prints the Markdown source, exactly what a chat would receive."""

    platform = "console"

    def __init__(self, stream: TextIO | None = None, default_dir: Path | None = None) -> None:
        self._stream = stream
        self._default_dir = default_dir

    async def send(
        self, target: Target, message: Message, key: str, parts: PartLog | None = None
    ) -> list[str]:
        stream = self._stream or sys.stdout
        print(message.markdown, file=stream)
        if message.image is not None:
            folder = (target.output_dir if isinstance(target, ConsoleTarget) else None) or self._default_dir
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{key}.png"
                path.write_bytes(message.image.data)
                print(f"\n[chart: {path}]", file=stream)
        print(file=stream)
        stream.flush()
        return [key]

    async def close(self) -> None:
        return None
