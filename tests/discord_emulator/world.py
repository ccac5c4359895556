"""The emulated Discord world: ids, users, a server with channels and roles, and their JSON.

Payloads follow Discord's documented objects (API v10) closely enough that
discord.py parses them unmodified.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ADMINISTRATOR",
    "MANAGE_GUILD",
    "PLAIN_MEMBER",
    "Channel",
    "Guild",
    "Member",
    "Role",
    "Snowflakes",
    "World",
    "iso_now",
]

DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
PLAIN_MEMBER = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | USE_APPLICATION_COMMANDS

# Gateway intents Discord calls privileged: members, presences, message content.
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)


class Snowflakes:
    """Increasing, well-formed snowflake ids (discord.py reads their timestamps)."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._last = 0

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (next(self._counter) & 0x3FFFFF)
        self._last = max(self._last + 1, value)
        return self._last


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Role:
    id: int
    name: str
    permissions: int = 0
    position: int = 0
    mentionable: bool = True

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": False,
            "mentionable": self.mentionable,
            "flags": 0,
        }


@dataclass
class Channel:
    id: int
    guild_id: int
    name: str
    type: int = 0  # 0 text, 5 announcement, 10 announcement thread, 11 public thread
    position: int = 0
    bot_can_view: bool = True
    bot_can_send: bool = True
    bot_can_thread: bool = True  # Create Public Threads
    parent_id: int | None = None  # a thread's channel
    owner_id: int | None = None  # who started a thread

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "position": self.position,
            "permission_overwrites": [],
            "name": self.name,
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "flags": 0,
            **(self._thread_fields() if self.type in (10, 11, 12) else {}),
        }

    def _thread_fields(self) -> dict[str, Any]:
        return {
            "owner_id": str(self.owner_id),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 10080,
                "archive_timestamp": iso_now(),
                "locked": False,
                "create_timestamp": iso_now(),
            },
        }


@dataclass
class Member:
    """A person (or the bot) in the server; ``permissions`` are what Discord computes in a channel."""

    id: int
    username: str
    roles: list[int] = field(default_factory=list)
    permissions: int = PLAIN_MEMBER
    bot: bool = False

    def user(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.username.title(),
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
        }

    def payload(self, *, with_permissions: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.user(),
            "nick": None,
            "avatar": None,
            "roles": [str(r) for r in self.roles],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
        }
        if with_permissions:
            data["permissions"] = str(self.permissions)
        return data


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: list[Role] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    preferred_locale: str = "en-US"

    def payload(self, bot: Member) -> dict[str, Any]:
        """The GUILD_CREATE payload, as the bot (a member) receives it."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles],
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.preferred_locale,
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "stickers": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "voice_states": [],
            "members": [bot.payload()],
            "channels": [c.payload() for c in self.channels if c.bot_can_view],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


class World:
    """One bot application in one server with a few channels, roles and people."""

    def __init__(self, token: str = "emulator-bot-token") -> None:
        ids = self.ids = Snowflakes()
        self.token = token
        self.application_id = ids.next()
        self.bot = Member(self.application_id, "donorbot", bot=True)
        self.owner = Member(ids.next(), "owner", permissions=PLAIN_MEMBER | ADMINISTRATOR | MANAGE_GUILD)
        guild_id = ids.next()
        self.everyone = Role(guild_id, "@everyone", permissions=PLAIN_MEMBER, mentionable=False)
        self.supporters = Role(ids.next(), "Supporters", position=1)
        self.treasurers = Role(ids.next(), "Treasurers", position=2)
        self.admin = Member(ids.next(), "admin", permissions=PLAIN_MEMBER | MANAGE_GUILD)
        self.member = Member(ids.next(), "member", roles=[self.supporters.id])
        self.treasurer = Member(ids.next(), "treasurer", roles=[self.treasurers.id])
        self.general = Channel(ids.next(), guild_id, "general", position=0)
        self.announcements = Channel(ids.next(), guild_id, "announcements", type=5, position=1)
        self.hidden = Channel(ids.next(), guild_id, "staff-only", position=2, bot_can_view=False)
        self.readonly = Channel(ids.next(), guild_id, "rules", position=3, bot_can_send=False)
        self.guild = Guild(
            guild_id,
            "Donor Friends",
            owner_id=self.owner.id,
            roles=[self.everyone, self.supporters, self.treasurers],
            channels=[self.general, self.announcements, self.hidden, self.readonly],
            members=[self.bot, self.owner, self.admin, self.member, self.treasurer],
        )
        self.allowed_intents = 0  # the application has no privileged intent enabled
        self.threads: list[Channel] = []
        # A forum channel (type 15), reached through its webhook only (not in the bot's server view).
        self.forum = Channel(ids.next(), guild_id, "donor-news", type=15, position=4)
        self.webhooks: dict[int, tuple[str, int]] = {}  # webhook id -> (token, channel id)

    def channel(self, channel_id: int) -> Channel | None:
        """A channel or a thread of the server."""
        return next(
            (c for c in [*self.guild.channels, self.forum, *self.threads] if c.id == channel_id), None
        )

    def add_webhook(self, channel: Channel) -> tuple[int, str]:
        """A channel webhook (Server Settings > Integrations > Webhooks): its id and token."""
        webhook_id = self.ids.next()
        token = f"wh-{webhook_id}-" + "x" * 60
        self.webhooks[webhook_id] = (token, channel.id)
        return webhook_id, token

    def person(self, user_id: int) -> Member | None:
        return next((m for m in self.guild.members if m.id == user_id), None)

    def application(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": "donorbot",
            "icon": None,
            "description": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.bot.user(),
            "terms_of_service_url": None,
            "privacy_policy_url": None,
            "owner": self.owner.user(),
            "verify_key": "0" * 64,
            "team": None,
            "flags": 0,
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": 1,
        }
