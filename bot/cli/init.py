"""``donorbot init``: a working configuration in a minute, by questions or by options."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bot.cli.common import EXIT_CONFIG, EXIT_ERROR, fail
from bot.starter import (
    CHAT_PLATFORMS,
    WEBHOOKS,
    Answers,
    config_text,
    default_currency,
    default_locale,
    default_timezone,
    env_text,
    new_pseudonym_key,
)

__all__ = ["register"]

T = TypeVar("T")
ENV_FILE = "donorbot.env"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="write a minimal config.toml and its environment file (asks, or --yes for defaults)",
        description="Write config.toml (only what you chose, each key commented) and donorbot.env "
        "(0600: a new pseudonym key, placeholders for the secrets to fill in). Asks a few "
        "questions; every answer can be given as an option, and --yes takes the defaults for the rest.",
    )
    p.add_argument("--dir", type=Path, default=Path("."), help="folder to write in (default: here)")
    p.add_argument("--yes", "-y", action="store_true", help="ask nothing: defaults for what is not given")
    p.add_argument("--force", action="store_true", help="overwrite an existing config.toml / donorbot.env")
    p.add_argument("--name", help="the community's name (default: the folder's name)")
    p.add_argument("--locale", help="language of the bulletins (default: from $LANG, else en)")
    p.add_argument("--timezone", help="IANA time zone (default: the machine's)")
    p.add_argument("--currency", help="ISO 4217 base currency (default: the locale's)")
    p.add_argument("--donate-url", action="append", default=None, help="a donation link (repeatable)")
    p.add_argument(
        "--platform",
        action="append",
        choices=CHAT_PLATFORMS,
        default=None,
        help="where bulletins go (repeatable; default: console)",
    )
    p.add_argument(
        "--webhook",
        action="append",
        choices=sorted(WEBHOOKS),
        default=None,
        help="a donation platform whose webhooks to receive (repeatable)",
    )
    p.add_argument(
        "--data-dir", help="folder for the ledger and the Matrix store (default: data, next to the config)"
    )
    p.set_defaults(func=cmd_init)


def available_locales() -> list[str]:
    """Languages donorbot has bulletins in (its catalogues)."""
    from bot.i18n import available

    return list(available())


def _validators() -> dict[str, Callable[[str], str]]:
    """The config's own validators where it has them: what init accepts, the config accepts."""
    from bot.config import _currency, _timezone, _url

    def locale(value: str) -> str:
        from bot.i18n import UnsupportedLocale, resolve

        try:
            return resolve(value).locale
        except UnsupportedLocale as exc:
            raise ValueError(str(exc)) from None

    def name(value: str) -> str:
        if not value.strip():
            raise ValueError("the name cannot be empty")
        return value.strip()

    def currency(value: str) -> str:
        return _currency(value.strip().upper())

    def room(value: str) -> str:
        if not (value.startswith(("!", "#")) and (":" in value or value.startswith("!"))):
            raise ValueError(f"{value!r} is not a room id (!abc:example.org) or alias (#news:example.org)")
        return value

    def user(value: str) -> str:
        if not (value.startswith("@") and ":" in value):
            raise ValueError(f"{value!r} is not a Matrix user id (@donorbot:example.org)")
        return value

    def channel(value: str) -> str:
        if not value.isdigit() or int(value) <= 0:
            raise ValueError(f"{value!r} is not a Discord channel id (digits)")
        return value

    return {
        "name": name,
        "locale": locale,
        "timezone": _timezone,
        "currency": currency,
        "url": _url,
        "room": room,
        "user": user,
        "channel": channel,
    }


class Asker:
    """Questions on the terminal (answers may also be piped in); with ``--yes`` every default is taken."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def ask(self, question: str, default: str, check: Callable[[str], str]) -> str:
        if not self.interactive:
            return check(default)
        while True:
            shown = f" [{default}]" if default else ""
            try:
                answer = input(f"{question}{shown}: ").strip()
            except EOFError:
                print(file=sys.stderr)
                raise SystemExit(EXIT_ERROR) from None
            try:
                return check(answer or default)
            except ValueError as exc:
                print(f"  {exc}", file=sys.stderr)

    def yes(self, question: str, default: bool) -> bool:
        if not self.interactive:
            return default
        while True:
            try:
                answer = input(f"{question} [{'Y/n' if default else 'y/N'}]: ").strip().lower()
            except EOFError:
                print(file=sys.stderr)
                raise SystemExit(EXIT_ERROR) from None
            if not answer:
                return default
            if answer in ("y", "yes", "o", "oui", "j", "ja", "s", "si", "sí"):
                return True
            if answer in ("n", "no", "non", "nein", "nee", "nie", "não", "nao"):
                return False
            print("  please answer y or n", file=sys.stderr)


def _gather(args: argparse.Namespace, folder: Path) -> Answers:
    v = _validators()
    asker = Asker(interactive=not args.yes)
    if asker.interactive:
        print("A few questions; press Enter to take the default in brackets.\n")
    default_name = folder.resolve().name.replace("-", " ").replace("_", " ").strip().title() or "Our Project"
    answers = Answers(name="")
    if args.data_dir:
        answers.data_dir = args.data_dir
    answers.name = _given(args.name, v["name"]) or asker.ask("Community name", default_name, v["name"])
    locales = available_locales()
    answers.locale = _given(args.locale, v["locale"]) or asker.ask(
        f"Language of the bulletins ({', '.join(locales)})", default_locale(locales), v["locale"]
    )
    answers.timezone = _given(args.timezone, v["timezone"]) or asker.ask(
        "Time zone", default_timezone(), v["timezone"]
    )
    answers.currency = _given(args.currency, v["currency"]) or asker.ask(
        "Currency of the totals", default_currency(answers.locale), v["currency"]
    )
    if args.donate_url is not None:
        answers.donate_urls = [v["url"](url) for url in args.donate_url]
    elif asker.interactive:
        url = asker.ask("Donation link (empty: none)", "", lambda s: v["url"](s) if s else s)
        answers.donate_urls = [url] if url else []
    if args.platform is not None:
        answers.platforms = list(dict.fromkeys(args.platform))
    elif asker.interactive:
        chosen = ["console"] if asker.yes("Print bulletins on the console", True) else []
        if asker.yes("Post to a Matrix room", False):
            chosen.append("matrix")
            answers.matrix_homeserver = asker.ask("  Homeserver URL", answers.matrix_homeserver, v["url"])
            answers.matrix_user = asker.ask("  The bot's user id", answers.matrix_user, v["user"])
            answers.matrix_room = asker.ask("  The room for the bulletins", answers.matrix_room, v["room"])
        if asker.yes("Post to a Discord channel", False):
            chosen.append("discord")
            answers.discord_channel = int(asker.ask("  Discord channel id", "", v["channel"]))
        answers.platforms = chosen or ["console"]
    if "discord" in answers.platforms and not answers.discord_channel:
        answers.discord_channel = 1  # a placeholder id; check-config accepts it, Discord will not
    if args.webhook is not None:
        answers.webhooks = list(dict.fromkeys(args.webhook))
    elif asker.interactive:
        names = ", ".join(sorted(WEBHOOKS))
        answers.webhooks = asker.ask(
            f"Webhooks to receive, comma-separated ({names}; empty: none)", "", _webhook_list
        ).split(",")
        answers.webhooks = [w for w in answers.webhooks if w]
    return answers


def _webhook_list(text: str) -> str:
    names = [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]
    unknown = [name for name in names if name not in WEBHOOKS]
    if unknown:
        raise ValueError(f"unknown: {', '.join(unknown)} (known: {', '.join(sorted(WEBHOOKS))})")
    return ",".join(dict.fromkeys(names))


def _given(value: str | None, check: Callable[[str], T]) -> T | None:
    if value is None:
        return None
    try:
        return check(value)
    except ValueError as exc:
        raise SystemExit(fail(str(exc), EXIT_CONFIG)) from None


def _write_private(path: Path, text: str, force: bool) -> None:
    """Write ``text`` readable by its owner only (0600), whatever the umask."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)


def cmd_init(args: argparse.Namespace) -> int:
    folder: Path = args.dir
    config_path, env_path = folder / "config.toml", folder / ENV_FILE
    existing = [p for p in (config_path, env_path) if p.exists()]
    if existing and not args.force:
        names = " and ".join(str(p) for p in existing)
        return fail(f"{names} already exist{'s' if len(existing) == 1 else ''}; --force overwrites")
    answers = _gather(args, folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = config_text(answers)
    from bot.config import ConfigError, parse_config

    try:  # what init writes must be what the config accepts
        parse_config(text, config_path)
    except ConfigError as exc:  # pragma: no cover - a bug in init, not the user's doing
        return fail("the configuration init would write is not valid: " + "; ".join(exc.problems))
    try:
        _write_private(env_path, env_text(answers, new_pseudonym_key()), args.force)
        _write_private(config_path, text, args.force)
    except OSError as exc:
        return fail(f"cannot write in {folder}: {exc.strerror or exc}")
    print(f"Wrote {config_path} and {env_path} (0600, with a new pseudonym key).\n")
    print("Next steps:")
    step = 1
    if any(p != "console" for p in answers.platforms) or [
        w for w in answers.webhooks if w != "opencollective"
    ]:
        print(f"  {step}. Fill in the secrets in {env_path}.")
        step += 1
    where = "" if folder == Path(".") else f"cd {folder} && "
    print(f"  {step}. Load them and check: {where}set -a; . ./{ENV_FILE}; set +a; donorbot check-config")
    print(f"  {step + 1}. Bring donations in: donorbot import PLATFORM FILE (or donorbot add ...)")
    print(f"  {step + 2}. Preview, then start: donorbot preview && donorbot run")
    return 0
