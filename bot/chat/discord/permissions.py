"""Who may run admin commands on Discord: decided from permissions and role ids, never names."""

from __future__ import annotations

import discord

__all__ = ["is_admin"]


def is_admin(interaction: discord.Interaction, admin_role: int | None) -> bool:
    """True for members with Manage Server (or Administrator) here, or with the configured role.

    ``interaction.permissions`` are the member's permissions in the channel as
    Discord computed them, overwrites included. Outside a server nobody is an admin.
    """
    member = interaction.user
    if interaction.guild_id is None or not isinstance(member, discord.Member):
        return False
    permissions = interaction.permissions
    if permissions.administrator or permissions.manage_guild:
        return True
    return admin_role is not None and member.get_role(admin_role) is not None
