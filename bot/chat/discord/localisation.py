"""Languages on Discord: which one a reply speaks, and slash commands in each of them.

Discord clients show a command's localised name and description to users whose
client language has one; the English strings are the default for everyone else.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.chat.commands import COMMANDS

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

# The languages our commands and replies are written in.
REPLY_LANGUAGES: frozenset[str] = frozenset(lang for spec in COMMANDS for lang in spec.description)

# Command, group, subcommand and option names, per language (English is the default name).
_NAMES: dict[str, dict[str, str]] = {
    "fr": {
        "donors": "donateurs",
        "goal": "objectif",
        "milestones": "étapes",
        "donate": "donner",
        "help": "aide",
        "news": "nouvelles",
        "preview": "aperçu",
        "post": "publier",
        "month": "mois",
    },
}

# Descriptions of what is not a command of COMMANDS: the "news" group and the month option.
_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "news": {"en": "The monthly news bulletin", "fr": "Les nouvelles du mois"},
    "month": {
        "en": "Month as YYYY-MM (default: the last complete month)",
        "fr": "Mois au format AAAA-MM (par défaut : le dernier mois complet)",
    },
    **{spec.name: spec.description for spec in COMMANDS},
}

_FAILURE = {
    "en": "Sorry, something went wrong while answering. The details are in the bot's log.",
    "fr": "Désolé, une erreur est survenue pendant la réponse. Les détails sont dans le journal du bot.",
}


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
    return _FAILURE.get(language_of(locale) or "en", _FAILURE["en"])


def local_names(locale: str) -> dict[str, str]:
    """The command words as a Discord client in ``locale`` shows them (English: as they are)."""
    return dict(_NAMES.get(language_of(locale) or "en", {}))


def named(name: str) -> app_commands.locale_str:
    """A command, group or option name that the translator localises."""
    return app_commands.locale_str(name, key=f"name:{name}")


def described(name: str) -> app_commands.locale_str:
    """The description of ``name`` ("donors", "news post", "news", "month"), localised likewise."""
    return app_commands.locale_str(_DESCRIPTIONS[name]["en"], key=f"description:{name}")


class CommandTranslator(app_commands.Translator):
    """Gives Discord the French (and any other) names and descriptions when commands are synced."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        language = language_of(locale.value)
        if language is None or language == "en":
            return None  # English is the default text
        kind, _, name = str(string.extras.get("key", "")).partition(":")
        if kind == "name":
            return _NAMES.get(language, {}).get(name)
        if kind == "description":
            return _DESCRIPTIONS.get(name, {}).get(language)
        return None
