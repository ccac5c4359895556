"""Logging: one line per event, as text or JSON, at the configured level."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from bot.config import LoggingSettings

__all__ = ["JsonFormatter", "setup_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log request details (SQL parameters, payloads, tokens) below INFO: never shown.
_DETAILED = ("aiosqlite", "discord.http", "discord.gateway", "nio.rooms", "nio.responses", "nio.http")
# Libraries that say at INFO what only matters when something is wrong.
_CHATTY = ("discord", "nio", "apscheduler")
# Libraries whose DEBUG is about themselves (font matching, parser rules), never about donorbot.
_NOISY = ("matplotlib", "PIL", "markdown_it")


class JsonFormatter(logging.Formatter):
    """``{"time": ..., "level": ..., "logger": ..., "message": ...}``, one object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _OneLine(logging.Formatter):
    """Text lines; a traceback is folded into the same line so one event stays one line."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced after set-up)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def setup_logging(settings: LoggingSettings, stream: TextIO | None = None) -> None:
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler.setFormatter(JsonFormatter() if settings.format == "json" else _OneLine(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level)
    # Libraries say at INFO what only matters when something is wrong: at donorbot's INFO they
    # log warnings and errors; at DEBUG everything.
    libraries = logging.DEBUG if root.level <= logging.DEBUG else max(logging.WARNING, root.level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(libraries)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.INFO, libraries))
    for name in _DETAILED:
        logging.getLogger(name).setLevel(max(logging.INFO, libraries))
