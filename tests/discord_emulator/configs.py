"""Real config files pointing donorbot at the emulator."""

from __future__ import annotations

from pathlib import Path

from tests.discord_emulator.server import DiscordEmulator

__all__ = ["TOKEN_ENV", "write_config"]

TOKEN_ENV = "DONORBOT_DISCORD_TOKEN"


def write_config(
    path: Path,
    emu: DiscordEmulator,
    *,
    guilds: bool = True,
    gateway_url: bool = False,
    admin_role: int | None = None,
    general_channel: int | None = None,
    extra: str = "",
) -> Path:
    """A config.toml with two Discord targets: ``general`` (en) and ``annonces`` (fr, role, publish)."""
    world = emu.world
    lines = [
        "[project]",
        'name = "Donor Friends"',
        'timezone = "Europe/Paris"',
        'locale = "en"',
        'base_currency = "EUR"',
        'donate_urls = ["https://example.org/donate"]',
        f'data_dir = "{path.parent / "data"}"',
        "",
        "[ledger]",
        'pseudonym_key_env = "DONORBOT_TEST_PSEUDONYM_KEY"',
        "",
        "[discord]",
        f'token_env = "{TOKEN_ENV}"',
        f'api_base = "{emu.api_base}"',
    ]
    if gateway_url:
        lines.append(f'gateway_url = "{emu.gateway_url}"')
    if guilds:
        lines.append(f"guilds = [{world.guild.id}]")
    if admin_role is not None:
        lines.append(f"admin_role = {admin_role}")
    lines += [
        "",
        "[[targets]]",
        'name = "general"',
        'platform = "discord"',
        f"channel_id = {general_channel or world.general.id}",
        'locale = "en"',
        "",
        "[[targets]]",
        'name = "annonces"',
        'platform = "discord"',
        f"channel_id = {world.announcements.id}",
        'locale = "fr"',
        f"mention_role = {world.supporters.id}",
        "publish = true",
        "",
        extra,
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
