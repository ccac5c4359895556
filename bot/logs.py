"""Logging: one line per event, as text or JSON, at the configured level."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

from bot.config import LoggingSettings

__all__ = ["JsonFormatter", "redact", "redact_path", "register_secret", "setup_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log request details (SQL parameters, payloads, tokens) below INFO: never shown.
_DETAILED = ("aiosqlite", "discord.http", "discord.gateway", "nio.rooms", "nio.responses", "nio.http")
# Libraries that say at INFO what only matters when something is wrong.
_CHATTY = ("discord", "nio", "apscheduler")
# Libraries whose DEBUG is about themselves (font matching, parser rules), never about donorbot.
_NOISY = ("matplotlib", "PIL", "markdown_it")

# A secret path segment: whatever follows /webhooks/NAME/ wherever it stands (behind a
# proxy's prefix, after doubled slashes), up to the next slash, query, space or quote.
_SECRET_SEGMENT = re.compile(r"(/webhooks/+[A-Za-z0-9_.-]+/+)[^/\s?#\"'|]+")
_SECRETS: set[str] = set()
_MIN_SECRET = 8  # shorter values would blank out ordinary words


def register_secret(value: str) -> None:
    """Never write ``value`` in a log line again (it becomes ``{secret}``)."""
    if len(value) >= _MIN_SECRET:
        _SECRETS.add(value)


def redact_path(path: str) -> str:
    """``path`` with any secret webhook segment shown as ``{token}``."""
    return _SECRET_SEGMENT.sub(r"\1{token}", path)


def redact(text: str) -> str:
    """A log line without secret path segments or registered secrets."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "{secret}")
    return redact_path(text)


class _BadRequests(logging.Filter):
    """aiohttp logs a malformed request (a header too long, a bad request line) as an ERROR
    with a traceback that quotes the raw bytes: made one warning line naming the problem."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "malformed HTTP request from %s refused: %s (%s)"
            record.args = (remote, error.code, type(error).__name__)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


class JsonFormatter(logging.Formatter):
    """``{"time": ..., "level": ..., "logger": ..., "message": ...}``, one object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class _OneLine(logging.Formatter):
    """Text lines; a traceback is folded into the same line so one event stays one line."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record).replace("\n", " | "))


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
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _BadRequests) for f in server.filters):
        server.addFilter(_BadRequests())
