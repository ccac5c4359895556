"""Our commands as Discord slash commands: ``/donors [month]``, ``/news post [month]`` ...

Built from the platform-neutral ``COMMANDS``: a name with a space becomes a
subcommand of a group (``news`` -> ``preview``, ``post``). Every callback hands
the interaction, the command and its month argument to one ``Answer`` function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from bot.chat.commands import COMMANDS, CommandSpec
from bot.chat.discord.localisation import described, named

__all__ = ["ADMIN_PERMISSIONS", "Answer", "slash_commands"]

SlashCommand = app_commands.Command[Any, ..., None]
ADMIN_PERMISSIONS = discord.Permissions(manage_guild=True)
Answer = Callable[[discord.Interaction, CommandSpec, str | None], Awaitable[None]]


def slash_commands(answer: Answer) -> list[SlashCommand | app_commands.Group]:
    """One slash command (or group of subcommands) per top-level word of ``COMMANDS``."""
    top: list[SlashCommand | app_commands.Group] = []
    groups: dict[str, app_commands.Group] = {}
    for spec in COMMANDS:
        first, _, sub = spec.name.partition(" ")
        command = _command(spec, sub or first, answer)
        if not sub:
            top.append(command)
            continue
        if first not in groups:
            members = [s for s in COMMANDS if s.name.startswith(f"{first} ")]
            admin = all(s.admin_only for s in members)
            groups[first] = app_commands.Group(
                name=named(first),
                description=described(first),
                # Admins' commands: hidden from members in the picker; server admins adjust who
                # sees them under Server Settings > Integrations. Each call is checked again.
                default_permissions=ADMIN_PERMISSIONS if admin else None,
                guild_only=admin,
            )
            top.append(groups[first])
        groups[first].add_command(command)
    return top


def _command(spec: CommandSpec, name: str, answer: Answer) -> SlashCommand:
    if spec.takes_month:

        @app_commands.rename(month=named("month"))
        @app_commands.describe(month=described("month"))
        async def with_month(interaction: discord.Interaction, month: str | None = None) -> None:
            await answer(interaction, spec, month)

        return app_commands.Command(name=named(name), description=described(spec.name), callback=with_month)

    async def without_argument(interaction: discord.Interaction) -> None:
        await answer(interaction, spec, None)

    return app_commands.Command(name=named(name), description=described(spec.name), callback=without_argument)
