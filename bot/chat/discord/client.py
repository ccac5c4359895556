"""The long-running Discord bot: gateway connection and slash commands.

Slash commands need no privileged intent (no message content, members or
presences): the bot asks only for ``guilds``, which keeps servers and their
roles in cache. Commands are synced once per start, in ``setup_hook``: to the
configured guilds (visible at once), else globally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import discord
from discord import app_commands

from bot.chat.commands import CommandSpec, Invocation, Reply
from bot.chat.discord.endpoints import EndpointClaim, claim_endpoints
from bot.chat.discord.localisation import CommandTranslator, failure_text, local_names, reply_locale
from bot.chat.discord.permissions import is_admin
from bot.chat.discord.sender import MAX_RATE_LIMIT_WAIT, DiscordSender, image_file, reply_mentions
from bot.chat.discord.slash import slash_commands
from bot.chat.discord.split import paragraphs_of, split_paragraphs
from bot.chat.message import Message
from bot.config import Config, ConfigError, DiscordSettings, DiscordTarget

__all__ = ["CommandHandler", "DiscordBot"]

log = logging.getLogger(__name__)

# Discord drops an interaction not acknowledged within 3 s; past this, acknowledge first.
DEFER_AFTER = 2.0
# Always slow enough to acknowledge at once: rendering a whole bulletin, posting it everywhere.
_ALWAYS_DEFER = frozenset({"news preview", "news post"})


class CommandHandler(Protocol):
    """What the bot needs from :class:`bot.chat.commands.CommandService`."""

    async def handle(self, inv: Invocation) -> Reply: ...


class _Client(discord.Client):
    def __init__(self, bot: DiscordBot, **options: Any) -> None:
        super().__init__(intents=discord.Intents(guilds=True), **options)
        self.bot = bot
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        await self.bot._setup(self)

    async def on_ready(self) -> None:
        log.info(
            "Discord gateway ready as bot %s in %d server(s)", self.user and self.user.id, len(self.guilds)
        )
        self.bot.ready.set()


class DiscordBot:
    """Answers slash commands until closed.

    ``await start()`` logs in, syncs the commands and opens the gateway
    connection in the background; ``await wait_ready()`` waits for the
    gateway's READY; ``await close()`` disconnects. :meth:`sender` posts
    through the same login.
    """

    def __init__(
        self,
        config: Config,
        commands: CommandHandler,
        *,
        defer_after: float = DEFER_AFTER,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        if config.discord is None:
            raise ValueError("[discord] is not configured")
        self._config = config
        self._settings: DiscordSettings = config.discord
        self._commands = commands
        self._defer_after = defer_after
        self._guild_ready_timeout = guild_ready_timeout
        self._client: _Client | None = None
        self._claim: EndpointClaim | None = None
        self._connection: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.ready = asyncio.Event()
        self.synced: dict[int | None, list[str]] = {}  # guild id (None: global) -> command names

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, sync slash commands, and connect to the gateway in the background.

        Raises:
            ConfigError: the token's environment variable is not set.
            discord.LoginFailure: Discord refused the token.
        """
        secret = self._config.secret(self._settings.token_env)
        if secret is None:
            raise ConfigError(
                [f"discord.token_env: environment variable {self._settings.token_env} is not set"]
            )
        self._claim = claim_endpoints(self._settings.api_base)
        client = _Client(
            self,
            guild_ready_timeout=self._guild_ready_timeout,
            max_ratelimit_timeout=MAX_RATE_LIMIT_WAIT,
        )
        self._client = client
        try:
            await client.login(secret.get_secret_value())
            gateway = self._settings.gateway_url or await _ask_gateway(client)
            if gateway:
                self._claim.use_gateway(gateway)
        except BaseException:
            await self.close()
            raise
        self._connection = asyncio.create_task(client.connect(reconnect=True), name="discord gateway")

    async def wait_ready(self) -> None:
        """Wait for the gateway's READY; raise what ended the connection if it ended first."""
        if self._connection is None:
            raise RuntimeError("start() the bot first")
        ready = asyncio.ensure_future(self.ready.wait())
        try:
            await asyncio.wait({ready, self._connection}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not self.ready.is_set():
            self._connection.result()  # raises the connection's error
            raise ConnectionError("the Discord gateway connection ended before READY")

    async def wait_closed(self) -> None:
        """Run until the connection ends (close(), or an error it cannot recover from: raised)."""
        if self._connection is not None:
            await self._connection

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._connection is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._connection
        for task in list(self._background):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        if self._claim is not None:
            self._claim.release()
            self._claim = None
        self.ready.clear()

    def sender(self) -> DiscordSender:
        """A sender posting through this bot's login (closing it leaves the bot open)."""
        if self._client is None:
            raise RuntimeError("start() the bot first")
        return DiscordSender(self._settings, None, client=self._client)

    # --- commands -------------------------------------------------------------------------

    async def _setup(self, client: _Client) -> None:
        tree = client.tree
        await tree.set_translator(CommandTranslator())
        for command in slash_commands(self._answer):
            tree.add_command(command)
        places: list[int | None] = [*self._settings.guilds] or [None]
        for guild_id in places:
            guild = discord.Object(id=guild_id) if guild_id else None
            if guild is not None:
                tree.copy_global_to(guild=guild)
            try:
                synced = await tree.sync(guild=guild)
            except discord.HTTPException as exc:
                # Posting still works without commands; say why they are missing.
                log.error("could not sync slash commands to %s: %s", _place(guild_id), exc)
                continue
            self.synced[guild_id] = [c.name for c in synced]
            log.info("synced %d slash command(s) to %s", len(synced), _place(guild_id))

    def _invocation(
        self, interaction: discord.Interaction, spec: CommandSpec, argument: str | None
    ) -> Invocation:
        target = self._target_of(interaction.channel_id)
        locale = reply_locale(interaction.locale.value, self._config.locale_of(target))
        admin = is_admin(interaction, self._settings.admin_role)
        return Invocation(
            command=spec.name,
            argument=argument.strip() if argument and argument.strip() else None,
            locale=locale,
            is_admin=admin,
            target=target,
            user=f"discord:{interaction.user.id}",
            admin_of=self._targets_in(interaction.guild_id) if admin else frozenset(),
            prefix="/",
            names=local_names(interaction.locale.value),
        )

    def _targets_in(self, guild_id: int | None) -> frozenset[str]:
        """The Discord targets whose channel is in this server (Manage Server there rules them)."""
        if guild_id is None or self._client is None:
            return frozenset()
        names = set()
        for target in self._config.targets:
            if isinstance(target, DiscordTarget):
                channel = self._client.get_channel(target.channel_id)
                if isinstance(channel, discord.abc.GuildChannel) and channel.guild.id == guild_id:
                    names.add(target.name)
        return frozenset(names)

    def _target_of(self, channel_id: int | None) -> DiscordTarget | None:
        for target in self._config.targets:
            if isinstance(target, DiscordTarget) and target.channel_id == channel_id:
                return target
        return None

    async def _answer(
        self, interaction: discord.Interaction, spec: CommandSpec, argument: str | None
    ) -> None:
        inv = self._invocation(interaction, spec, argument)
        log.info("/%s %s from %s", spec.name, inv.argument or "", inv.user)
        work = asyncio.create_task(self._commands.handle(inv), name=f"discord /{spec.name}")
        deferred = False
        try:
            if spec.name not in _ALWAYS_DEFER:
                await asyncio.wait({work}, timeout=self._defer_after)
            if not work.done():
                await interaction.response.defer(ephemeral=spec.ephemeral or spec.admin_only, thinking=True)
                deferred = True
        except BaseException:
            self._keep(work)  # the work (a post, say) goes on even if Discord's deadline passed
            raise
        try:
            reply = await work
        except Exception:
            log.exception("/%s failed", spec.name)
            text = failure_text(inv.locale)
            reply = Reply(Message(markdown=text, text=text, html=""), ephemeral=True, ok=False)
        await self._reply(interaction, reply, deferred)

    async def _reply(self, interaction: discord.Interaction, reply: Reply, deferred: bool) -> None:
        message = reply.message
        parts = split_paragraphs(list(message.paragraphs) or paragraphs_of(message.markdown))
        if not parts:
            parts = [""] if message.image is not None else [message.text.strip() or "…"]
        for number, content in enumerate(parts):
            options: dict[str, Any] = {"ephemeral": reply.ephemeral, "allowed_mentions": reply_mentions()}
            if number == 0 and message.image is not None:
                options["file"] = image_file(message.image)
            if number == 0 and not deferred:
                await interaction.response.send_message(content or None, **options)
            else:
                await interaction.followup.send(content, **options)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "a command went on after its interaction failed, then failed", exc_info=task.exception()
            )


async def _ask_gateway(client: discord.Client) -> str | None:
    """The gateway URL the REST API gives (GET /gateway/bot); None to keep discord.py's default."""
    try:
        _shards, url, _limits = await client.http.get_bot_gateway()
    except discord.DiscordException as exc:
        log.warning("GET /gateway/bot failed (%s); using discord.py's default gateway", exc)
        return None
    return url


def _place(guild_id: int | None) -> str:
    return f"server {guild_id}" if guild_id else "all servers (global)"
