"""Posting a bulletin to a Discord channel over REST (no gateway needed)."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from typing import Any, Literal

import discord

from bot.chat.discord.endpoints import EndpointClaim, claim_endpoints
from bot.chat.discord.failures import delivery_error, retry_after_of
from bot.chat.discord.nonce import nonce_for
from bot.chat.discord.split import DISCORD_MESSAGE_LIMIT, paragraphs_of, split_paragraphs
from bot.chat.errors import DeferredDeliveryError, DeliveryError, PermanentDeliveryError
from bot.chat.layout import shape
from bot.chat.message import Attachment, Image, Message
from bot.chat.sender import MemoryParts, PartLog
from bot.config import Config, DiscordSettings, DiscordTarget, Target

__all__ = [
    "DiscordSender",
    "Shape",
    "bulletin_parts",
    "bulletin_shape",
    "open_sender",
    "post_mentions",
    "reply_mentions",
]

log = logging.getLogger(__name__)

# The bot never joins voice: no "PyNaCl/davey is not installed" warning at every start.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

# discord.py waits out rate limits up to this long itself; a longer one (the crosspost limit's
# hour) comes back as a deferred delivery, retried by the sweep when the window allows.
MAX_RATE_LIMIT_WAIT = 60.0
THREAD_NAME_LIMIT = 100
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week: the thread stays in the list while people read it
# Discord's JSON error codes (Opcodes and Status Codes).
ALREADY_CROSSPOSTED = 40033
THREAD_ALREADY_CREATED = 160004
CANNOT_THREAD_HERE = 50024


def post_mentions(target: DiscordTarget) -> discord.AllowedMentions:
    """Nothing may ping, except the target's own role when it has one."""
    roles: Any = [discord.Object(id=target.mention_role)] if target.mention_role else False
    return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)


def reply_mentions() -> discord.AllowedMentions:
    return discord.AllowedMentions.none()


def bulletin_parts(message: Message, mention_role: int | None = None) -> list[str]:
    """The contents of the Discord messages carrying ``message`` in one channel, in order.

    The role mention, when there is one, opens the first part.
    """
    prefix = f"<@&{mention_role}>\n" if mention_role else ""
    paragraphs = list(message.paragraphs) or paragraphs_of(message.markdown)
    parts = split_paragraphs(paragraphs, DISCORD_MESSAGE_LIMIT, first_reserve=len(prefix))
    if not parts:
        return [prefix.rstrip("\n")] if (prefix or message.image) else []
    parts[0] = prefix + parts[0]
    return parts


@dataclass(frozen=True, slots=True)
class Shape:
    """A bulletin as Discord shows it: one announcement message, then the rest in a thread on it."""

    announcement: str
    thread: list[str]  # message contents posted in the thread, in order
    title: str


def bulletin_shape(message: Message, mention_role: int | None = None) -> Shape:
    """The announcement (headline, figures, records, milestones, goals) and the thread's messages.

    Every content is at most 2,000 characters; a headline longer than one message
    continues in the thread, so only one message is ever crossposted.
    """
    prefix = f"<@&{mention_role}>\n" if mention_role else ""
    headline, rest = shape(message)
    heads = split_paragraphs(
        paragraphs_of(headline.markdown), DISCORD_MESSAGE_LIMIT, first_reserve=len(prefix)
    )
    announcement = prefix + (heads[0] if heads else "")
    thread = heads[1:]
    for part in rest:
        thread.extend(split_paragraphs(paragraphs_of(part.markdown), DISCORD_MESSAGE_LIMIT))
    title = message.title or (heads[0].split("\n", 1)[0].lstrip("# ") if heads else "")
    return Shape(announcement.rstrip("\n"), thread, thread_name(title))


def thread_name(title: str) -> str:
    """A thread name: 1 to 100 characters, one line (Discord's rule for channel names)."""
    name = " ".join(title.split()) or "…"
    return name if len(name) <= THREAD_NAME_LIMIT else name[: THREAD_NAME_LIMIT - 1].rstrip() + "…"


def image_file(image: Image) -> discord.File:
    return discord.File(io.BytesIO(image.data), filename=image.filename, description=image.alt or None)


def attachment_file(attachment: Attachment) -> discord.File:
    return discord.File(
        io.BytesIO(attachment.data), filename=attachment.filename, description=attachment.description or None
    )


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
        """Post the announcement (with the chart), publish it once, then the rest in a thread on it.

        Each step is a named part of ``parts``: ``0`` (the announcement), ``crosspost``,
        ``thread``, ``thread.N`` (its messages) and ``file.N`` (attachments). A part
        already recorded is skipped, and each is recorded as soon as it is done, so a
        resend does only the rest. A crosspost Discord refuses for now (10 an hour per
        channel) leaves the delivery deferred, with the reason, once everything else is posted.
        """
        if not isinstance(target, DiscordTarget):
            raise PermanentDeliveryError(f"{target.name}: not a Discord target")
        log_parts: PartLog = parts if parts is not None else MemoryParts()
        plan = bulletin_shape(message, target.mention_role)
        if not plan.announcement and message.image is None:
            raise PermanentDeliveryError(f"{target.name}: the message is empty")
        where = f"Discord channel {target.channel_id} ({target.name})"
        deferred: str | None = None
        try:
            client = await self._logged_in()
            first = log_parts.sent("0")
            if first is None:
                options: dict[str, Any] = {
                    "nonce": nonce_for(key, 0),  # discord.py adds enforce_nonce: true
                    "allowed_mentions": post_mentions(target),
                }
                if message.image is not None:
                    options["file"] = image_file(message.image)
                channel = client.get_partial_messageable(target.channel_id)
                posted = await channel.send(plan.announcement or None, **options)
                first = str(posted.id)
                await log_parts.record("0", first)
                if posted.flags.crossposted:  # a deduplicated resend: published the first time
                    await log_parts.record("crosspost", first)
            ids = [first]
            if target.publish and log_parts.sent("crosspost") is None:
                deferred = await self._publish(client, target, int(first), log_parts, where)
            if plan.thread or message.attachments:
                ids.extend(await self._thread(client, target, int(first), plan, message, key, log_parts))
        except DeliveryError:
            raise
        except Exception as exc:  # discord.py's, aiohttp's and the socket's errors alike
            raise delivery_error(exc, where) from exc
        log.info("posted to %s: %d message(s) %s", where, len(ids), ", ".join(ids))
        if deferred is not None:
            raise DeferredDeliveryError(deferred)
        return ids

    async def _publish(
        self, client: discord.Client, target: DiscordTarget, message_id: int, parts: PartLog, where: str
    ) -> str | None:
        """Crosspost the announcement to following servers; why not (for now), or None when done."""
        if not await self._is_announcement_channel(client, target.channel_id):
            await parts.record("crosspost", "not an announcement channel")
            return None
        try:
            await client.http.publish_message(target.channel_id, message_id)
        except discord.RateLimited as exc:
            return (
                f"{where}: posted; publishing to following servers waits for Discord's crosspost limit "
                f"(10 an hour per channel), {exc.retry_after:.0f} s from now"
            )
        except discord.HTTPException as exc:
            if exc.status == 429:
                later = retry_after_of(exc)
                return (
                    f"{where}: posted; publishing to following servers waits for Discord's crosspost limit "
                    f"(10 an hour per channel){f', {later:.0f} s from now' if later else ''}"
                )
            if exc.code != ALREADY_CROSSPOSTED:
                raise
        await parts.record("crosspost", str(message_id))
        return None

    async def _thread(
        self,
        client: discord.Client,
        target: DiscordTarget,
        message_id: int,
        plan: Shape,
        message: Message,
        key: str,
        parts: PartLog,
    ) -> list[str]:
        """The thread on the announcement (made once) and its messages; their ids."""
        thread_id = parts.sent("thread")
        if thread_id is None:
            thread_id = await self._start_thread(client, target.channel_id, message_id, plan.title)
            await parts.record("thread", thread_id)
        where = client.get_partial_messageable(int(thread_id))
        ids: list[str] = []
        for number, content in enumerate(plan.thread):
            name = f"thread.{number}"
            done = parts.sent(name)
            if done is None:
                posted = await where.send(
                    content, nonce=nonce_for(f"{key}.thread", number), allowed_mentions=reply_mentions()
                )
                done = str(posted.id)
                await parts.record(name, done)
            ids.append(done)
        for number, attachment in enumerate(message.attachments):
            name = f"file.{number}"
            done = parts.sent(name)
            if done is None:
                posted = await where.send(
                    file=attachment_file(attachment),
                    nonce=nonce_for(f"{key}.file", number),
                    allowed_mentions=reply_mentions(),
                )
                done = str(posted.id)
                await parts.record(name, done)
            ids.append(done)
        return ids

    async def _start_thread(self, client: discord.Client, channel_id: int, message_id: int, name: str) -> str:
        """Start the thread on a message (its id is the message's: a second start is refused, not doubled)."""
        try:
            thread = await client.http.start_thread_with_message(
                channel_id, message_id, name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.HTTPException as exc:
            if exc.code == THREAD_ALREADY_CREATED:
                return str(message_id)
            if exc.status == 403 or exc.code == CANNOT_THREAD_HERE:
                # No right to start threads here (or a channel without threads): post the rest below.
                log.warning(
                    "channel %s: cannot start a thread (%s); posting the rest in the channel", channel_id, exc
                )
                return str(channel_id)
            raise
        return str(thread["id"])

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
            # REST only (no gateway connection, so no intent is used); guilds keeps discord.py's
            # state from warning that "Guilds intent seems to be disabled" on every post.
            client = discord.Client(
                intents=discord.Intents(guilds=True), max_ratelimit_timeout=MAX_RATE_LIMIT_WAIT
            )
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


async def open_sender(config: Config) -> DiscordSender:
    """The Discord sender for ``config`` (``[discord]`` must be present)."""
    if config.discord is None:
        raise ValueError("[discord] is not configured")
    secret = config.secret(config.discord.token_env)
    return DiscordSender(config.discord, secret.get_secret_value() if secret else None)
