"""Posting a bulletin to a Discord channel over REST (no gateway needed)."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import discord

from bot.chat.discord.endpoints import EndpointClaim, claim_endpoints
from bot.chat.discord.failures import delivery_error
from bot.chat.discord.nonce import nonce_for
from bot.chat.discord.split import DISCORD_MESSAGE_LIMIT, paragraphs_of, split_paragraphs
from bot.chat.errors import DeliveryError, PermanentDeliveryError
from bot.chat.message import Image, Message
from bot.chat.sender import PartLog
from bot.config import Config, DiscordSettings, DiscordTarget, Target

__all__ = ["DiscordSender", "bulletin_parts", "open_sender", "post_mentions", "reply_mentions"]

log = logging.getLogger(__name__)

# Longer waits come back to delivery as a TransientDeliveryError carrying retry_after.
MAX_RATE_LIMIT_WAIT = 60.0


def post_mentions(target: DiscordTarget) -> discord.AllowedMentions:
    """Nothing may ping, except the target's own role when it has one."""
    roles: Any = [discord.Object(id=target.mention_role)] if target.mention_role else False
    return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)


def reply_mentions() -> discord.AllowedMentions:
    return discord.AllowedMentions.none()


def bulletin_parts(message: Message, mention_role: int | None = None) -> list[str]:
    """The contents of the Discord messages carrying ``message``, in order.

    The role mention, when there is one, opens the first part.
    """
    prefix = f"<@&{mention_role}>\n" if mention_role else ""
    paragraphs = list(message.paragraphs) or paragraphs_of(message.markdown)
    parts = split_paragraphs(paragraphs, DISCORD_MESSAGE_LIMIT, first_reserve=len(prefix))
    if not parts:
        return [prefix.rstrip("\n")] if (prefix or message.image) else []
    parts[0] = prefix + parts[0]
    return parts


def image_file(image: Image) -> discord.File:
    return discord.File(io.BytesIO(image.data), filename=image.filename, description=image.alt or None)


class DiscordSender:
    """Sends rendered messages to Discord targets.

    Logs in on first use, so that an unreachable Discord fails the deliveries
    to Discord targets (to be retried) rather than the whole command.
    """

    platform = "discord"

    def __init__(
        self,
        settings: DiscordSettings,
        token: str | None,
        *,
        client: discord.Client | None = None,
    ) -> None:
        self._settings = settings
        self._token = token
        self._client = client
        self._owns_client = client is None
        self._claim: EndpointClaim | None = None
        self._lock = asyncio.Lock()

    async def send(
        self, target: Target, message: Message, key: str, parts: PartLog | None = None
    ) -> list[str]:
        if not isinstance(target, DiscordTarget):
            raise PermanentDeliveryError(f"{target.name}: not a Discord target")
        contents = bulletin_parts(message, target.mention_role)
        if not contents:
            raise PermanentDeliveryError(f"{target.name}: the message is empty")
        where = f"Discord channel {target.channel_id} ({target.name})"
        try:
            client = await self._logged_in()
            announce = target.publish and await self._is_announcement_channel(client, target.channel_id)
            channel = client.get_partial_messageable(target.channel_id)
            sent: list[discord.Message] = []
            for number, content in enumerate(contents):
                options: dict[str, Any] = {
                    "nonce": nonce_for(key, number),  # discord.py adds enforce_nonce: true
                    "allowed_mentions": post_mentions(target),
                }
                if number == 0 and message.image is not None:
                    options["file"] = image_file(message.image)
                sent.append(await channel.send(content or None, **options))
        except DeliveryError:
            raise
        except Exception as exc:  # discord.py's, aiohttp's and the socket's errors alike
            raise delivery_error(exc, where) from exc
        if announce:
            await self._publish(sent, where)
        ids = [str(m.id) for m in sent]
        log.info("posted to %s: %d message(s) %s", where, len(ids), ", ".join(ids))
        return ids

    async def close(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None
        if self._claim is not None:
            self._claim.release()
            self._claim = None

    async def _logged_in(self) -> discord.Client:
        async with self._lock:
            if self._client is not None:
                return self._client
            if not self._token:
                raise PermanentDeliveryError(
                    f"discord.token_env: environment variable {self._settings.token_env} is not set"
                )
            self._claim = claim_endpoints(self._settings.api_base)
            client = discord.Client(intents=discord.Intents.none(), max_ratelimit_timeout=MAX_RATE_LIMIT_WAIT)
            try:
                await client.login(self._token)
            except BaseException:
                await client.close()
                self._claim.release()
                self._claim = None
                raise
            self._client = client
            return client

    async def _is_announcement_channel(self, client: discord.Client, channel_id: int) -> bool:
        channel = await client.fetch_channel(channel_id)
        if isinstance(channel, discord.TextChannel) and channel.is_news():
            return True
        log.warning("channel %s is not an announcement channel: posting without publishing", channel_id)
        return False

    async def _publish(self, messages: list[discord.Message], where: str) -> None:
        """Crosspost to following servers; the post itself already succeeded, so failures only warn."""
        for message in messages:
            if message.flags.crossposted:  # a deduplicated resend: published the first time
                continue
            try:
                await message.publish()
            except Exception as exc:
                log.warning("%s: message %s posted but not published: %s", where, message.id, exc)


async def open_sender(config: Config) -> DiscordSender:
    """The Discord sender for ``config`` (``[discord]`` must be present)."""
    if config.discord is None:
        raise ValueError("[discord] is not configured")
    secret = config.secret(config.discord.token_env)
    return DiscordSender(config.discord, secret.get_secret_value() if secret else None)
