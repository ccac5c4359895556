"""Donations in and donors' rights: ``serve`` (webhooks), ``forget`` and ``export-donor``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Any

from bot.cli.common import EXIT_CONFIG, fail, load, print_json, with_core
from bot.ledger.store import LedgerError

if TYPE_CHECKING:
    from bot.ledger.privacy import Forgotten

__all__ = ["register"]

FORGET_WAIT = 120.0  # seconds to wait for the running service to forget a donor


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="receive the donation platforms' webhooks",
        description="Listen on webhooks.host:webhooks.port for the platforms whose secrets are set, "
        "until interrupted (SIGINT or SIGTERM).",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "forget",
        help="erase a donor: names, messages and the link to the person removed; every figure kept",
        description="Erase a person: their names and messages are removed, and their donations are moved "
        "from their pseudonym to a random key that nothing links back to, so they still count as one person "
        "in every figure (months, all-time, goals, milestones). Thanks deliveries that named them are removed. "
        "Safe to repeat.",
    )
    p.add_argument(
        "donor", metavar="DONOR", help="an email, or a platform id as PLATFORM:ID (e.g. kofi:12345)"
    )
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser(
        "export-donor",
        help="print, as JSON, everything the ledger holds about a donor",
        description="Right of access: print, as JSON, everything the ledger holds about one person.",
    )
    p.add_argument(
        "donor", metavar="DONOR", help="an email, or a platform id as PLATFORM:ID (e.g. kofi:12345)"
    )
    p.set_defaults(func=cmd_export_donor)


def _identity(text: str) -> str | None:
    from bot.ledger.pseudonym import parse_donor_argument

    try:
        return parse_donor_argument(text)
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)
        return None


async def _forget(core: Any, donor: str, identity: str) -> Forgotten:
    """Forget here, or hand it to the running ``donorbot run``, which forgets with its own connections."""
    from bot.control import ControlError, ForgetRequest, NoService, ask_service
    from bot.ledger.privacy import Forgotten

    try:
        info, answer = await ask_service(core.config.ledger_path, ForgetRequest(donor), FORGET_WAIT)
    except NoService:
        result: Forgotten = await core.ledger.forget(identity)
        return result
    except (ControlError, TimeoutError) as exc:
        raise LedgerError(
            f"the running donorbot run could not forget this donor: {exc or 'no answer'}"
        ) from exc
    print(f"(done by the running donorbot run, {info.describe()})", file=sys.stderr)
    return Forgotten(**answer["result"])


def cmd_forget(args: argparse.Namespace) -> int:
    identity = _identity(args.donor)
    if identity is None:
        return EXIT_CONFIG

    async def body(core: Any) -> int:
        from bot.ledger.privacy import forget_in_spool
        from bot.sources.webhooks.spool import spool_path

        done = await _forget(core, args.donor, identity)
        # The intake spool is a file of its own: what the ledger refused stays there, named.
        dropped, waiting = await asyncio.to_thread(
            forget_in_spool, spool_path(core.config.ledger_path), identity
        )
        if dropped:
            print(f"{args.donor}: {dropped} webhook delivery(ies) set aside in the intake spool deleted")
        if waiting:
            print(
                f"{args.donor}: {waiting} webhook delivery(ies) still queued for the ledger; run forget again"
                " once donorbot run has stored them",
                file=sys.stderr,
            )
        if not done.changed and not dropped:
            print(f"{args.donor}: nothing held about this donor; nothing changed")
            return 0
        print(f"{args.donor}: forgotten")
        print(f"  donations unlinked (still counted, as one person): {done.donations}")
        print(f"  names removed: {done.names_removed}")
        print(f"  messages removed: {done.messages_removed}")
        if done.thanks_removed:
            print(f"  thanks deliveries removed: {done.thanks_removed}")
        for posted in done.posted_thanks:
            ids = ", ".join(posted["message_ids"]) or "unknown"
            print(
                f"  a thanks naming them was posted to {posted['target']} (message ids: {ids}): delete it there"
            )
        if not done.wal_truncated:
            print(
                "  warning: the ledger's -wal file could not be emptied now (another process is reading);"
                " it will be at the next checkpoint, or when donorbot run stops",
                file=sys.stderr,
            )
        return 0

    return with_core(args, body)


def cmd_export_donor(args: argparse.Namespace) -> int:
    identity = _identity(args.donor)
    if identity is None:
        return EXIT_CONFIG

    async def body(core: Any) -> int:
        print_json(await core.ledger.export_donor(identity))
        return 0

    return with_core(args, body)


def cmd_serve(args: argparse.Namespace) -> int:
    # Validation refuses a missing pseudonym key: every donation with a donor would fail to
    # store, and the platforms would retry forever.
    config = load(args)

    async def body(core: Any) -> int:
        from aiohttp import web

        from bot.sources.webhooks import RedactingAccessLogger, build_webhook_app, enabled_hooks

        settings = config.webhooks
        hooks = enabled_hooks(config)
        if not hooks:
            print(
                "donorbot: warning: no webhook is enabled (set [webhooks.*] and their secrets)",
                file=sys.stderr,
            )
        from bot.sources.webhooks.guard import Guard, guarded_runner
        from bot.sources.webhooks.spool import Intake, Spool, spool_path

        def problem() -> str | None:
            why: str | None = core.ledger.problem(with_path=False)
            return why

        spool = await asyncio.to_thread(Spool, spool_path(config.ledger_path))
        intake = Intake(spool, core.ledger.write, problem=problem)
        await intake.start()
        app = build_webhook_app(config, core.ledger.write, problem=problem, intake=intake)
        guard = Guard(config.webhooks.header_timeout_seconds, config.webhooks.max_connections)
        runner = guarded_runner(app, guard, access_log_class=RedactingAccessLogger)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.host, settings.port)
            try:
                await site.start()
            except OSError as exc:
                return fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            for address in runner.addresses:
                # Port 0 in the config means "any free port": say which one it became.
                host, port = address[0], address[1]
                print(f"listening on http://{host}:{port}", flush=True)
            for hook in hooks:
                # A secret path segment is shown as {token}, never as itself.
                print(f"  POST {hook.path}", flush=True)
            print("  GET  /healthz", flush=True)
            try:
                await stop.wait()
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)
            print("stopping", flush=True)
            return 0
        finally:
            await runner.cleanup()
            await intake.close()  # what the ledger has not taken stays spooled for the next start

    return with_core(args, body, config)
