"""Discord: post bulletins to channels (REST) and answer slash commands (gateway).

``open_sender(config)`` gives delivery its :class:`~bot.chat.sender.Sender`;
``DiscordBot(config, commands)`` is the long-running part. Both talk to
``discord.api_base`` / ``discord.gateway_url`` (Discord itself by default, or a
compatible server such as Spacebar, or the test emulator).
"""

from __future__ import annotations

from bot.chat.discord.client import CommandHandler, DiscordBot
from bot.chat.discord.sender import DiscordSender, open_sender

__all__ = ["CommandHandler", "DiscordBot", "DiscordSender", "open_sender"]
