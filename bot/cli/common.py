"""What every subcommand does the same way: load the config, open the core, print errors."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from bot.config import Config, ConfigError, load_config
from bot.ledger.store import LedgerError
from bot.logs import setup_logging
from bot.months import Month
from bot.news.render import RenderError
from bot.validation import validate

__all__ = [
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "fail",
    "load",
    "locale_problem",
    "month_arg",
    "print_json",
    "run_async",
    "with_core",
]

EXIT_ERROR = 1
EXIT_CONFIG = 2
T = TypeVar("T")
log = logging.getLogger("donorbot")


def fail(message: str, code: int = EXIT_ERROR) -> int:
    print(f"donorbot: {message}", file=sys.stderr)
    return code


def locale_problem(locale: str) -> str | None:
    """Why ``--locale`` cannot be used (no catalogue for its language), else None; a fallback
    (fr_CA -> fr) is said on stderr."""
    from bot.i18n import UnsupportedLocale, resolve

    try:
        found = resolve(locale)
    except UnsupportedLocale as exc:
        return str(exc)
    if found.note:
        print(f"warning: --locale: {found.note}", file=sys.stderr)
    return None


_SERVICES = ("run", "serve")


def load(args: argparse.Namespace, command: str | None = None) -> Config:
    """The configuration, validated for this command (:func:`bot.validation.validate`).

    Exits 2 with every problem on its own line when the file or the verdict has errors;
    warnings are logged and the command goes on.
    """
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    name = command or getattr(args, "command", None) or ""
    settings = config.logging
    if name not in _SERVICES and settings.level == "INFO":
        # A one-off command prints what it did; its log says only what went wrong.
        settings = settings.model_copy(update={"level": "WARNING"})
    setup_logging(settings)
    verdict = validate(config, name)
    for warning in verdict.warnings:
        log.warning("%s", warning)
    if verdict.errors:
        for problem in verdict.errors:
            print(problem, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    return config


def month_arg(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def with_core(
    args: argparse.Namespace, body: Callable[[Any], Awaitable[int]], config: Config | None = None
) -> int:
    """Open the core from the configuration, run ``body(core)``, close it; map errors to exit codes."""
    from bot.core import Core

    config = config or load(args)

    async def main() -> int:
        core = await Core.open(config)
        try:
            return await body(core)
        finally:
            await core.close()

    try:
        return run_async(main())
    except ConfigError as exc:
        for problem in exc.problems:
            located = problem.startswith(str(config.source))
            print(problem if located else f"{config.source}: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except RenderError as exc:
        return fail(str(exc), EXIT_CONFIG)
    except LedgerError as exc:
        return fail(str(exc))
    except sqlite3.DatabaseError as exc:  # a damaged page read after opening (too large to check then)
        if "malformed" not in str(exc) and "not a database" not in str(exc):
            raise
        from bot.ledger.health import damaged

        return fail(damaged(config.ledger_path, str(exc)))


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False))
