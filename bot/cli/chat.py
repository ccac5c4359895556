"""Posting: ``donorbot post``.

The bulletin is first recorded as owed (a pending delivery) for every target, so
nothing that fails afterwards (a platform that cannot connect, a closed output)
loses it: ``run`` sends what is still pending. When ``donorbot run`` holds the
ledger, ``post`` hands the sending over to it (see :mod:`bot.control`) and prints
what it did; otherwise it sends itself, each delivery under a claim that keeps
any other process from sending the same one (a delivery another process is
sending is waited for, and reported as it ends).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING

from bot.cli.common import fail, load, month_arg, with_core

if TYPE_CHECKING:
    from bot.chat.commands import PublishOutcome
    from bot.config import Config, Target
    from bot.core import Core
    from bot.months import Month
    from bot.outbox import OwedRow

__all__ = ["register", "unfinished_month"]

WAIT_FOR_OTHERS = 120.0  # seconds to wait for another process already sending the same delivery
POST_WAIT = 900.0  # seconds to wait for the running service to say how the sending went
OK_STATES = ("sent", "already sent")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("post", help="post a month's bulletin to the configured targets now, once")
    p.add_argument("--month", type=month_arg, help="the month reported (default: the last complete month)")
    p.add_argument("--target", help="only this target (default: every enabled target)")
    p.add_argument("--force", action="store_true", help="post again even if this month was already posted")
    p.add_argument(
        "--unfinished",
        action="store_true",
        help="allow the current month (or a later one), which has not ended: its bulletin would miss "
        "the rest of the month's donations, and the month would then count as posted",
    )
    p.set_defaults(func=cmd_post)


def unfinished_month(month: Month, tz_name: str) -> str:
    """Why an unfinished month is refused, and how to post it anyway."""
    ends = f"{month.next()}-01 00:00 {tz_name}"
    return (
        f"{month} has not ended yet (it ends at {ends}): its bulletin would miss the rest of the month's "
        "donations, and once posted the month counts as sent, so the real bulletin would not be posted. "
        "Post it once the month is over, or add --unfinished to post it anyway"
    )


def _say(lines: list[str]) -> None:
    """Print the outcomes; to standard error when standard output is gone (``| head``)."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's last flush at exit must not fail again
        for line in lines:
            print(line, file=sys.stderr)


async def send_here(
    core: Core, config: Config, owed: list[OwedRow], targets: list[Target]
) -> list[PublishOutcome]:
    """Send owed deliveries from this process, waiting for any another process is already sending."""
    from bot.chat.senders import close_senders, open_senders
    from bot.delivery import deliver_owed

    by_name = {t.name: t for t in targets}
    senders, problems = await open_senders(config, {by_name[row.target].platform for row in owed})
    try:
        outcomes = await deliver_owed(core, senders, owed, targets, problems=problems)
        deadline = time.monotonic() + WAIT_FOR_OTHERS
        while any(o.state == "busy" for o in outcomes) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            again = [row for row, o in zip(owed, outcomes, strict=True) if o.state == "busy"]
            redone = iter(await deliver_owed(core, senders, again, targets, problems=problems))
            outcomes = [next(redone) if o.state == "busy" else o for o in outcomes]
        return outcomes
    finally:
        await close_senders(senders)


async def hand_over(core: Core, owed: list[OwedRow]) -> list[PublishOutcome] | None:
    """Ask the running ``donorbot run`` to send what is owed; its outcomes, or None when none runs."""
    from pathlib import Path

    from bot.chat.commands import PublishOutcome
    from bot.control import ControlError, NoService, SendRequest, ask
    from bot.lease import holder

    info = holder(core.config.ledger_path)
    if info is None or info.socket is None:
        return None
    service = f"the running donorbot run ({info.describe()})"
    try:
        answer = await ask(Path(info.socket), SendRequest(tuple(owed)), POST_WAIT)
    except NoService:
        return None  # it is starting or has just died: send from here (each delivery is claimed)
    except TimeoutError:
        return [PublishOutcome(r.target, "pending", f"{service} is still sending it") for r in owed]
    except ControlError as exc:
        return [PublishOutcome(r.target, "pending", f"{service} said: {exc}") for r in owed]
    print(f"donorbot: handed to {service}", file=sys.stderr)
    return [PublishOutcome(str(o["target"]), str(o["state"]), str(o["detail"])) for o in answer["outcomes"]]


def cmd_post(args: argparse.Namespace) -> int:
    from bot.announcements import BULLETIN
    from bot.chat.commands import PublishOutcome
    from bot.outbox import OwedRow

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

    async def body(core: Core) -> int:
        month = args.month or core.last_complete_month()
        if not args.unfinished and not core.has_ended(month):
            return fail(unfinished_month(month, config.project.tz.key))
        outcomes: dict[str, PublishOutcome] = {}
        owed: list[OwedRow] = []
        for target in targets:  # owed before anything can fail
            row = await core.outbox.request(BULLETIN, month, target.name, force=args.force)
            if row.state == "sent":
                outcomes[target.name] = PublishOutcome(
                    target.name, "already sent", ", ".join(row.message_ids)
                )
            else:
                owed.append(OwedRow(BULLETIN, month, target.name))
        if owed:
            handed = await hand_over(core, owed)
            for outcome in handed if handed is not None else await send_here(core, config, owed, targets):
                outcomes[outcome.target] = outcome
        ordered = [outcomes[t.name] for t in targets]
        _say([f"{month} -> {o.target}: {o.state}" + (f" ({o.detail})" if o.detail else "") for o in ordered])
        return 0 if all(o.state in OK_STATES for o in ordered) else 1

    return with_core(args, body, config)
