"""``donorbot sync [SOURCE]``: pull each configured source once and say what was stored."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import EXIT_CONFIG, EXIT_ERROR, fail, load, print_json, with_core

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sync",
        help="pull donations from the platforms' APIs once ([sources.*]): opencollective, stripe, github-sponsors",
        description="Read each configured source ([sources.opencollective], [sources.stripe], "
        "[sources.github_sponsors]) since its last sync and store what is new, in one transaction per "
        "source. `donorbot run` does this at each source's interval_minutes.",
    )
    p.add_argument(
        "source", nargs="?", metavar="SOURCE", help="only this one (default: every configured one)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> int:
    from bot.sources.sync.base import CLI_NAMES, cli_name, config_key
    from bot.sources.sync.runner import build_sources, sync_once

    config = load(args)
    configured = list(config.sources.configured())
    if args.source:
        key = config_key(args.source)
        if key is None:
            return fail(
                f"unknown source {args.source!r} (known: {', '.join(CLI_NAMES.values())})", EXIT_CONFIG
            )
        if key not in configured:
            return fail(f"[sources.{key}] is not in {config.source}", EXIT_CONFIG)
        only = [key]
    else:
        if not configured:
            return fail(
                f"no source to sync: add [sources.opencollective], [sources.stripe] or "
                f"[sources.github_sponsors] to {config.source}",
                EXIT_CONFIG,
            )
        only = configured
    if config.secret(config.ledger.pseudonym_key_env) is None:
        return fail(
            f"ledger.pseudonym_key_env: environment variable {config.ledger.pseudonym_key_env} is not set",
            EXIT_CONFIG,
        )
    sources, problems = build_sources(config, only)

    async def body(core: Any) -> int:
        reports = [await sync_once(core.ledger, source) for source in sources]
        if args.json:
            print_json(
                [r.to_json() for r in reports]
                + [{"source": cli_name(k), "ok": False, "error": e} for k, e in problems.items()]
            )
        else:
            for report in reports:
                for line in report.lines():
                    print(line)
        for key, problem in problems.items():
            fail(f"{cli_name(key)}: not synced: {problem}")
        if problems and not reports:
            return EXIT_CONFIG
        return EXIT_ERROR if problems or any(r.error for r in reports) else 0

    return with_core(args, body, config)
