"""Members' commands, written once for every platform.

Adapters turn a slash command or a ``!`` message into an :class:`Invocation`,
call :meth:`CommandService.handle`, and format the :class:`Reply` for their
platform. Nothing here knows Discord or Matrix.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot import i18n
from bot.chat.message import Message
from bot.i18n import N_
from bot.months import Month
from bot.news.render import RenderError

if TYPE_CHECKING:
    from bot.config import Target
    from bot.core import Core

__all__ = [
    "COMMANDS",
    "CommandService",
    "CommandSpec",
    "Invocation",
    "PublishOutcome",
    "Reply",
    "parse_bang",
]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command as every platform shows it."""

    name: str  # "donors", "news post"
    description: str  # in English; translated by the catalogues (bot.i18n)
    takes_month: bool = False
    admin_only: bool = False
    ephemeral: bool = False  # where the platform can, only the asker sees the reply


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("donors", N_("How many people gave in a month"), takes_month=True),
    CommandSpec("goal", N_("Progress of our fundraising goals")),
    CommandSpec("milestones", N_("The milestones we reached together")),
    CommandSpec("donate", N_("How to support the project")),
    CommandSpec(
        "news preview",
        N_("Preview a month's news bulletin (admins)"),
        takes_month=True,
        admin_only=True,
        ephemeral=True,
    ),
    CommandSpec(
        "news post", N_("Post a month's news bulletin now (admins)"), takes_month=True, admin_only=True
    ),
    CommandSpec("help", N_("What I can do")),
)
_BY_NAME = {spec.name: spec for spec in COMMANDS}
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Invocation:
    """A member asked something. The adapter decided the rights from platform permissions.

    ``is_admin``: an admin where the command was typed. ``admin_of``: the names of
    the targets whose room or channel the asker may administer *there* (their power
    level in that room, Manage Server in that channel's server): ``news post``
    posts to those alone.
    """

    command: str
    argument: str | None = None
    locale: str = "en"
    is_admin: bool = False
    target: Target | None = None  # the configured target this room/channel is, if any
    user: str = ""  # who asked: rate limits and logs
    admin_of: frozenset[str] = frozenset()
    prefix: str = "!"  # how commands are typed on this platform: "!" on Matrix, "/" on Discord
    names: Mapping[str, str] = field(default_factory=dict)  # word -> the name the asker's client shows

    def shown(self, name: str) -> str:
        """``news preview`` as the asker types it here: ``!news preview``, ``/nouvelles aperçu``."""
        return self.prefix + " ".join(self.names.get(word, word) for word in name.split())


@dataclass(frozen=True, slots=True)
class Reply:
    message: Message
    ephemeral: bool = False
    ok: bool = True  # False for refusals and usage errors


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What ``news post`` did for one target."""

    target: str
    state: str  # "sent", "already sent", "failed", "pending"
    detail: str = ""


class Publisher(Protocol):
    """Posts a month's bulletin now, to ``targets`` (names) or to every target."""

    def __call__(
        self, month: Month, targets: Collection[str] | None = None
    ) -> Awaitable[list[PublishOutcome]]: ...


# One preview per person in this many seconds: a preview renders a whole bulletin.
PREVIEW_INTERVAL = 60.0


def parse_bang(text: str) -> tuple[str, str | None] | None:
    """``"!news post 2025-12"`` -> ``("news post", "2025-12")``; None if not a command of ours."""
    words = text.strip().split()
    if not words or not words[0].startswith("!") or len(words[0]) < 2:
        return None
    word, rest = words[0][1:].lower(), words[1:]
    if word == "news":
        if not rest or rest[0].lower() not in ("preview", "post") or len(rest) > 2:
            return ("news", None)
        return (f"news {rest[0].lower()}", rest[1] if len(rest) == 2 else None)
    if word not in _BY_NAME:
        # An unknown word gets an answer pointing to help; other text after "!" is not for us.
        return (word, None) if _WORD.fullmatch(word) else None
    if len(rest) > 1:
        return None
    return (word, rest[0] if rest else None)


_WORD = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclass
class CommandService:
    """Answers invocations from the ledger, the report and the templates."""

    core: Core
    publish: Publisher | None = None
    now: Callable[[], datetime] | None = field(default=None)
    clock: Callable[[], float] = field(default=time.monotonic)
    _previews: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    async def handle(self, inv: Invocation) -> Reply:
        try:
            return await self._handle(inv)
        except RenderError as exc:
            # A broken maintainer template: say so in the log, and give the member a short answer.
            log.error("/%s: %s", inv.command, exc)
            text = i18n.texts(inv.locale).gettext(
                "Sorry, I cannot answer that right now: the maintainers have been told."
            )
            return Reply(Message(markdown=text, text=text, html=f"<p>{text}</p>"), ephemeral=True, ok=False)

    async def _handle(self, inv: Invocation) -> Reply:
        spec = _BY_NAME.get(inv.command)
        render = self.core.renderer
        if spec is None:
            return Reply(
                render.reply("usage", inv.locale, command=inv.command, help=inv.shown("help")), ok=False
            )
        allowed = spec.name == "news post" and bool(inv.admin_of)
        if spec.admin_only and not (inv.is_admin or allowed):
            return Reply(render.reply("refused", inv.locale, command=spec.name), ephemeral=True, ok=False)
        month: Month | None = None
        if spec.takes_month and inv.argument:
            try:
                month = Month.parse(inv.argument)
            except ValueError:
                return Reply(
                    render.reply("bad_month", inv.locale, text=inv.argument),
                    ephemeral=True,
                    ok=False,
                )
        elif inv.argument and not spec.takes_month:
            return Reply(
                render.reply("usage", inv.locale, command=spec.name, help=inv.shown("help")), ok=False
            )
        latest = self.core.last_complete_month(self.now() if self.now else None)
        if month is not None and month > latest.next():
            return Reply(render.reply("future_month", inv.locale, month=month), ephemeral=True, ok=False)
        month = month or latest

        if spec.name == "donors":
            report = await self.core.report(month)
            return Reply(render.reply("donors", inv.locale, report=report))
        if spec.name == "goal":
            progress = await self.core.goals_now(self.now() if self.now else None)
            image = await self.core.goal_image(progress, inv.locale) if progress else None
            return Reply(render.reply("goal", inv.locale, goals=progress, image=image))
        if spec.name == "milestones":
            reached = await self.core.milestones_reached()
            return Reply(render.reply("milestones", inv.locale, milestones=reached))
        if spec.name == "donate":
            return Reply(render.reply("donate", inv.locale))
        if spec.name == "news preview":
            if self._too_soon(inv.user):
                return Reply(
                    render.reply("too_often", inv.locale, command=spec.name), ephemeral=True, ok=False
                )
            bulletin = await self.core.bulletin(month, inv.locale)
            return Reply(bulletin, ephemeral=True)
        if spec.name == "news post":
            if not self.core.has_ended(month, self.now() if self.now else None):
                # A bulletin of a month still running would miss the rest of it, and block the real one.
                return Reply(
                    render.reply("unfinished_month", inv.locale, month=month), ephemeral=True, ok=False
                )
            if self.publish is None:
                return Reply(render.reply("no_publisher", inv.locale), ephemeral=True, ok=False)
            if not inv.admin_of:
                return Reply(render.reply("refused", inv.locale, command=spec.name), ephemeral=True, ok=False)
            outcomes = await self.publish(month, sorted(inv.admin_of))
            return Reply(render.reply("posted", inv.locale, month=month, outcomes=outcomes), ephemeral=True)
        shown = [dataclasses.replace(c, name=inv.shown(c.name)) for c in COMMANDS]
        return Reply(render.reply("help", inv.locale, commands=shown))

    def _too_soon(self, user: str) -> bool:
        """True when ``user`` previewed less than :data:`PREVIEW_INTERVAL` ago (else counts this one)."""
        now = self.clock()
        last = self._previews.get(user)
        if last is not None and now - last < PREVIEW_INTERVAL:
            return True
        self._previews[user] = now
        return False
