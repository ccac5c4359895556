"""What ``donorbot init`` writes: a minimal configuration and its environment file.

Pure functions from the answers to file contents, so the wizard, ``--yes`` and the
tests all produce the same files. Every key written here is documented in
``config.example.toml``, with the same comments.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CHAT_PLATFORMS",
    "WEBHOOKS",
    "Answers",
    "config_text",
    "default_currency",
    "default_locale",
    "default_timezone",
    "env_text",
    "new_pseudonym_key",
]

CHAT_PLATFORMS = ("console", "matrix", "discord")

# Webhook route -> (config table, secret variable, what the platform calls the secret).
WEBHOOKS: dict[str, tuple[str, str, str]] = {
    "kofi": ("kofi", "DONORBOT_KOFI_TOKEN", "Ko-fi's verification token"),
    "github-sponsors": ("github_sponsors", "DONORBOT_GITHUB_SPONSORS_SECRET", "the webhook's secret"),
    "stripe": ("stripe", "DONORBOT_STRIPE_SECRET", "the endpoint's signing secret (whsec_...)"),
    "opencollective": (
        "opencollective",
        "DONORBOT_OPENCOLLECTIVE_PATH_SECRET",
        "a random secret, the last segment of the webhook URL",
    ),
    "patreon": ("patreon", "DONORBOT_PATREON_SECRET", "the webhook's secret"),
    "donorbox": ("donorbox", "DONORBOT_DONORBOX_SECRET", "the signing secret of Donorbox's webhook"),
    "buymeacoffee": ("buymeacoffee", "DONORBOT_BMC_SECRET", "the webhook's secret"),
    "helloasso": ("helloasso", "DONORBOT_HELLOASSO_KEY", "HelloAsso's signature key"),
}

KEY_ENV = "DONORBOT_PSEUDONYM_KEY"
DISCORD_ENV = "DONORBOT_DISCORD_TOKEN"
MATRIX_ENV = "DONORBOT_MATRIX_TOKEN"


@dataclass
class Answers:
    """Everything ``init`` asks; the defaults are what ``init --yes`` writes."""

    name: str
    locale: str = "en"
    timezone: str = "UTC"
    currency: str = "EUR"
    donate_urls: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=lambda: ["console"])
    webhooks: list[str] = field(default_factory=list)
    matrix_homeserver: str = "https://matrix.example.org"
    matrix_user: str = "@donorbot:example.org"
    matrix_room: str = "#news:example.org"
    discord_channel: int = 0
    data_dir: str = "data"


def new_pseudonym_key() -> str:
    """32 random bytes, hex: the key that turns donor ids and emails into pseudonyms."""
    return secrets.token_hex(32)


def default_timezone() -> str:
    """The machine's zone (``$TZ`` or ``/etc/localtime``), else UTC."""
    from zoneinfo import available_timezones

    zones = available_timezones()
    candidate = os.environ.get("TZ", "").lstrip(":")
    if candidate in zones:
        return candidate
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        target = ""
    match = re.search(r"zoneinfo/(.+)$", target)
    if match and match.group(1) in zones:
        return match.group(1)
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
    except OSError:
        name = ""
    return name if name in zones else "UTC"


def default_locale(available: list[str]) -> str:
    """The language of ``$LC_ALL``/``$LC_MESSAGES``/``$LANG`` when donorbot speaks it, else English."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "").split(".")[0].split("@")[0]
        if not value or value in ("C", "POSIX"):
            continue
        if value in available:
            return value
        language = value.split("_")[0]
        if language in available:
            return language
    return "en"


def default_currency(locale: str) -> str:
    """The currency of the locale's territory (``fr_CH`` -> CHF), else EUR for a bare language."""
    from babel import Locale, UnknownLocaleError
    from babel.numbers import get_territory_currencies

    try:
        territory = Locale.parse(locale).territory
    except (UnknownLocaleError, ValueError):
        territory = None
    if territory:
        codes = get_territory_currencies(territory, tender=True)
        if codes:
            return str(codes[0])
    return {"en": "USD", "pt": "BRL", "pl": "PLN"}.get(locale.split("_")[0], "EUR")


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def config_text(answers: Answers) -> str:
    """A minimal config.toml holding only what was chosen, each key commented as in the example."""
    urls = ", ".join(_toml(url) for url in answers.donate_urls)
    out = [
        "# donorbot configuration, written by `donorbot init`. Every key, with what it does, is",
        "# documented in config.example.toml; check this file with `donorbot check-config`.",
        "# Secrets are never written here: keys ending in _env name the ENVIRONMENT VARIABLE that",
        "# holds them (see the environment file written next to this one).",
        "",
        "[project]",
        "# The community's name, as the bulletins say it.",
        f"name = {_toml(answers.name)}",
        '# IANA time zone: months, schedules and "this month" are counted in it.',
        f"timezone = {_toml(answers.timezone)}",
        "# Default language of bulletins and replies (a target can override it).",
        f"locale = {_toml(answers.locale)}",
        "# ISO 4217 currency the totals and goals are counted in.",
        f"base_currency = {_toml(answers.currency)}",
        "# Where people can give; shown by /donate and at the end of bulletins.",
        f"donate_urls = [{urls}]",
        "# Folder for the ledger, pictures, the Matrix session and crypto store.",
        f"data_dir = {_toml(answers.data_dir)}",
        "",
        "[ledger]",
        "# Variable holding the key (at least 16 bytes) that turns donor ids and emails into",
        "# pseudonyms. Keep it with your backups: a new key makes every donor look new.",
        f"pseudonym_key_env = {_toml(KEY_ENV)}",
        "",
        "[schedule]",
        "# When the monthly bulletin is posted (crontab syntax, in project.timezone).",
        "# Default: 10:00 on the 1st of each month.",
        'cron = "0 10 1 * *"',
        "",
        "[webhooks]",
        "# Serve the donation platforms' webhooks (and /healthz, /metrics) in `donorbot run`.",
        "enabled = true",
        "# Listen address; keep 127.0.0.1 behind a TLS reverse proxy.",
        'host = "127.0.0.1"',
        "port = 8080",
    ]
    for route in answers.webhooks:
        table, variable, what = WEBHOOKS[route]
        key = "signature_key_env" if route == "helloasso" else "secret_env"
        out += ["", f"[webhooks.{table}]", f"# {what[0].upper()}{what[1:]}.", f"{key} = {_toml(variable)}"]
        if route == "patreon":
            out += [
                "# Patreon's amounts carry no currency: your campaign's.",
                f"currency = {_toml(answers.currency)}",
            ]
    if "matrix" in answers.platforms:
        out += [
            "",
            "[matrix]",
            "# Your homeserver's client URL and the bot's user.",
            f"homeserver = {_toml(answers.matrix_homeserver)}",
            f"user_id = {_toml(answers.matrix_user)}",
            '# An access token (or password_env = "...": see config.example.toml).',
            f"access_token_env = {_toml(MATRIX_ENV)}",
        ]
    if "discord" in answers.platforms:
        out += ["", "[discord]", "# The bot's token.", f"token_env = {_toml(DISCORD_ENV)}"]
    out += [
        "",
        "# Where bulletins go. `name` is used by `post --target` and in the outbox.",
    ]
    if "console" in answers.platforms:
        out += [
            "",
            "[[targets]]",
            'name = "terminal"',
            "# Printed on standard output; the chart is written in data_dir/console.",
            'platform = "console"',
        ]
    if "matrix" in answers.platforms:
        out += [
            "",
            "[[targets]]",
            'name = "matrix-news"',
            'platform = "matrix"',
            "# A room id (!abc:example.org) or alias (#news:example.org).",
            f"room = {_toml(answers.matrix_room)}",
            "# Post a short message when a milestone or goal is reached.",
            "alerts = true",
        ]
    if "discord" in answers.platforms:
        out += [
            "",
            "[[targets]]",
            'name = "discord-news"',
            'platform = "discord"',
            "# The channel's id (Developer Mode: right-click the channel, Copy Channel ID).",
            f"channel_id = {answers.discord_channel}",
            "# Crosspost (publish) the message when the channel is an announcement channel.",
            "publish = true",
            "alerts = true",
        ]
    return "\n".join(out) + "\n"


def env_text(answers: Answers, key: str) -> str:
    """The environment file: the pseudonym key, and a placeholder for each secret to fill in."""
    out = [
        "# donorbot's secrets, written by `donorbot init`. Keep this file private (mode 0600) and",
        "# with your backups: without the pseudonym key, every returning donor looks new.",
        "# Load it with `set -a; . ./donorbot.env; set +a`, systemd's EnvironmentFile= or",
        "# compose's env_file:.",
        f"{KEY_ENV}={key}",
    ]
    placeholders: list[tuple[str, str]] = []
    if "matrix" in answers.platforms:
        placeholders.append((MATRIX_ENV, "the Matrix bot's access token"))
    if "discord" in answers.platforms:
        placeholders.append((DISCORD_ENV, "the Discord bot's token (Developer Portal, Bot, Reset Token)"))
    generated: list[tuple[str, str]] = []
    for route in answers.webhooks:
        _table, variable, what = WEBHOOKS[route]
        if route == "opencollective":  # ours to choose: give Open Collective the URL with it
            generated.append((variable, secrets.token_urlsafe(24)))
        else:
            placeholders.append((variable, what))
    for variable, value in generated:
        out.append(f"{variable}={value}")
    if placeholders:
        out += ["", "# To fill in before `donorbot run`:"]
    for variable, what in placeholders:
        out += [f"# {what}", f"{variable}="]
    return "\n".join(out) + "\n"
