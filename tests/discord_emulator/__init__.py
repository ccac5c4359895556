"""A Discord protocol emulator (REST + gateway) for tests: discord.py runs against it unmodified."""

from __future__ import annotations

from tests.discord_emulator.server import (
    DiscordEmulator,
    InteractionRecord,
    RecordedFile,
    RecordedRequest,
    StoredMessage,
)
from tests.discord_emulator.world import World

__all__ = [
    "DiscordEmulator",
    "InteractionRecord",
    "RecordedFile",
    "RecordedRequest",
    "StoredMessage",
    "World",
]
