"""Languages on Discord: which one a reply speaks, and slash commands in each of them.

Discord clients show a command's localised name and description to users whose
client language has one; the English strings are the default for everyone else.
"""

from __future__ import annotations

import gettext

import discord
from discord import app_commands

from bot import i18n
from bot.chat.commands import COMMANDS
from bot.i18n import N_

__all__ = [
    "REPLY_LANGUAGES",
    "CommandTranslator",
    "described",
    "failure_text",
    "language_of",
    "local_names",
    "named",
    "reply_locale",
]

# The languages our commands and replies are written in: those with a catalogue.
REPLY_LANGUAGES: frozenset[str] = frozenset(name.split("_")[0] for name in i18n.available())


def _name(name: str, texts: gettext.NullTranslations) -> str:
    """A command, group, subcommand or option name, as the catalogue gives it (English by default)."""
    names = {
        "donors": texts.pgettext("slash command name", "donors"),
        "goal": texts.pgettext("slash command name", "goal"),
        "milestones": texts.pgettext("slash command name", "milestones"),
        "donate": texts.pgettext("slash command name", "donate"),
        "help": texts.pgettext("slash command name", "help"),
        "news": texts.pgettext("slash command name", "news"),
        "preview": texts.pgettext("slash command name", "preview"),
        "post": texts.pgettext("slash command name", "post"),
        "month": texts.pgettext("slash command option", "month"),
    }
    return names.get(name, name)


# Descriptions (in English, the catalogues' msgids) of what is not a command of COMMANDS:
# the "news" group and the month option.
_DESCRIPTIONS: dict[str, str] = {
    "news": N_("The monthly news bulletin"),
    "month": N_("Month as YYYY-MM (default: the last complete month)"),
    **{spec.name: spec.description for spec in COMMANDS},
}


def _texts(language: str) -> gettext.NullTranslations | None:
    """The catalogue of a Discord language ("pt-BR", "es-419", "fr"), or None when there is none."""
    try:
        return i18n.translations(i18n.resolve(language).catalogue)
    except i18n.UnsupportedLocale:
        return None


def language_of(locale: str | None) -> str | None:
    """``"fr"``, ``"en-US"``, ``"pt_BR"`` -> ``"fr"``, ``"en"``, ``"pt"``."""
    if not locale:
        return None
    return locale.replace("_", "-").split("-")[0].lower() or None


def reply_locale(user_locale: str | None, fallback: str) -> str:
    """The user's Discord language when we write in it, else ``fallback`` (the target's or project's)."""
    language = language_of(user_locale)
    return language if language in REPLY_LANGUAGES else fallback


def failure_text(locale: str) -> str:
    return i18n.texts(locale).gettext(
        "Sorry, something went wrong while answering. The details are in the bot's log."
    )


def local_names(locale: str) -> dict[str, str]:
    """The command words as a Discord client in ``locale`` shows them (English: as they are)."""
    texts = None if language_of(locale) in (None, "en") else _texts(locale)
    if texts is None:
        return {}
    words = ("donors", "goal", "milestones", "donate", "help", "news", "preview", "post")
    return {word: _name(word, texts) for word in words}


def named(name: str) -> app_commands.locale_str:
    """A command, group or option name that the translator localises."""
    return app_commands.locale_str(name, key=f"name:{name}")


def described(name: str) -> app_commands.locale_str:
    """The description of ``name`` ("donors", "news post", "news", "month"), localised likewise."""
    return app_commands.locale_str(_DESCRIPTIONS[name], key=f"description:{name}")


class CommandTranslator(app_commands.Translator):
    """Gives Discord the French (and any other) names and descriptions when commands are synced."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if language_of(locale.value) in (None, "en"):
            return None  # English is the default text
        texts = _texts(locale.value)
        if texts is None:
            return None
        kind, _, name = str(string.extras.get("key", "")).partition(":")
        if kind == "name":
            return _name(name, texts)
        if kind == "description" and name in _DESCRIPTIONS:
            return texts.gettext(_DESCRIPTIONS[name])
        return None
