"""Posting: ``donorbot post``."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import fail, load, month_arg, with_core

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("post", help="post a month's bulletin to the configured targets now, once")
    p.add_argument("--month", type=month_arg, help="the month reported (default: the last complete month)")
    p.add_argument("--target", help="only this target (default: every enabled target)")
    p.add_argument("--force", action="store_true", help="post again even if this month was already posted")
    p.set_defaults(func=cmd_post)


def cmd_post(args: argparse.Namespace) -> int:
    from bot.chat.commands import PublishOutcome
    from bot.chat.senders import close_senders, open_senders
    from bot.delivery import deliver

    config = load(args)
    if args.target:
        try:
            targets = [config.target(args.target)]
        except KeyError as exc:
            return fail(str(exc.args[0]))
    else:
        targets = [t for t in config.targets if t.enabled]
    if not targets:
        return fail("no target configured (add a [[targets]] section)")

    async def body(core: Any) -> int:
        month = args.month or core.last_complete_month()
        senders, problems = await open_senders(config, (t.platform for t in targets))
        try:
            reachable = [t for t in targets if t.platform in senders]
            outcomes = await deliver(core, senders, month, reachable, force=args.force)
        finally:
            await close_senders(senders)
        outcomes += [
            PublishOutcome(t.name, "failed", problems[t.platform]) for t in targets if t.platform in problems
        ]
        for outcome in outcomes:
            detail = f" ({outcome.detail})" if outcome.detail else ""
            print(f"{month} -> {outcome.target}: {outcome.state}{detail}")
        return 0 if all(o.state in ("sent", "already sent") for o in outcomes) else 1

    return with_core(args, body, config)
