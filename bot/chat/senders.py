"""Opening the way out to each platform a set of targets needs."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from bot.chat.console import ConsoleSender
from bot.chat.sender import Sender
from bot.config import Config

__all__ = ["close_senders", "open_senders"]

log = logging.getLogger(__name__)


async def open_senders(config: Config, platforms: Iterable[str]) -> tuple[dict[str, Sender], dict[str, str]]:
    """Senders by platform, and why each platform that could not be opened failed."""
    senders: dict[str, Sender] = {}
    problems: dict[str, str] = {}
    for platform in sorted(set(platforms)):
        try:
            if platform == "console":
                senders[platform] = ConsoleSender(default_dir=Path(config.data_dir) / "console")
            elif platform == "discord":
                from bot.chat.discord import open_sender as open_discord

                senders[platform] = await open_discord(config)
            elif platform == "discord-webhook":
                from bot.chat.discord.webhook import open_sender as open_webhook

                senders[platform] = await open_webhook(config)
            elif platform == "matrix":
                from bot.chat.matrix import open_sender as open_matrix

                senders[platform] = await open_matrix(config)
        except Exception as exc:  # one platform down must not stop the others
            log.error("%s: cannot connect: %s", platform, exc)
            problems[platform] = f"cannot connect: {exc}"
    return senders, problems


async def close_senders(senders: dict[str, Sender]) -> None:
    for platform, sender in senders.items():
        try:
            await sender.close()
        except Exception as exc:
            log.warning("%s: error while closing: %s", platform, exc)
