"""The long-running bot: ``donorbot run``, and ``donorbot status``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bot.cli.common import EXIT_CONFIG, fail, load, print_json, with_core
from bot.config import ConfigError

__all__ = ["register"]

RECENT_DELIVERIES = 6  # per target, in `status`


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the bot: scheduled bulletins, commands, webhooks, alerts (until SIGINT/SIGTERM)",
        description="Start everything the configuration enables: the ledger, the webhook server (with "
        "/metrics), Discord and Matrix, console targets and the monthly schedule. SIGINT or SIGTERM stops "
        "it cleanly: sends under way finish or stay pending for the next start.",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "status",
        help="next scheduled runs, each target's deliveries, last donation per source, ledger size",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import Service
    from bot.lease import LeaseHeld
    from bot.ledger.store import LedgerError

    config = load(args)

    async def main() -> int:
        service = Service(config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, service.request_stop)
        try:
            try:
                await service.start()
            except ConfigError as exc:
                for problem in exc.problems:
                    print(problem, file=sys.stderr)
                return EXIT_CONFIG
            except (LedgerError, LeaseHeld, OSError) as exc:
                return fail(str(exc))
            try:
                where = service.webhook_address
                print(
                    f"donorbot running: {len(service.targets)} target(s)"
                    + (f", webhooks on http://{where[0]}:{where[1]}" if where else ""),
                    flush=True,
                )
                await service.stopped()
                print("stopping", flush=True)
            finally:
                # Whatever happened above (even a closed standard output), stop cleanly: an open
                # ledger connection would keep the process alive.
                await service.stop()
            return 0
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    return asyncio.run(main())


async def _status(core: Any, now: datetime) -> dict[str, Any]:
    from bot.delivery import list_deliveries
    from bot.lease import holder
    from bot.schedule import month_reported, next_runs, trigger_of
    from bot.sources.sync.status import sync_status

    config = core.config
    tz = config.project.tz
    deliveries = await list_deliveries(core)
    targets = []
    for target in config.targets:
        upcoming = next_runs(trigger_of(config, target), now, 1) if target.enabled else []
        rows = [d for d in deliveries if d.target == target.name]
        targets.append(
            {
                "name": target.name,
                "platform": target.platform,
                "enabled": target.enabled,
                "next_run": upcoming[0].isoformat() if upcoming else None,
                "next_month": str(month_reported(upcoming[0], tz)) if upcoming else None,
                "deliveries": {
                    state: sum(1 for d in rows if d.state == state) for state in ("sent", "pending", "failed")
                },
                "recent": [
                    {
                        "kind": d.kind,
                        "month": str(d.month),
                        "state": d.state,
                        "attempts": d.attempts,
                        "error": d.last_error,
                        "updated_at": datetime.fromtimestamp(d.updated_at, UTC).isoformat(),
                    }
                    for d in sorted(rows, key=lambda d: d.updated_at, reverse=True)[:RECENT_DELIVERIES]
                ],
            }
        )
    sources = [
        {"source": source, "donations": count, "last": datetime.fromtimestamp(last, UTC).isoformat()}
        for source, count, last in await core.ledger.query(
            "SELECT source, count(*), max(received_at) FROM donations GROUP BY source ORDER BY source"
        )
    ]
    size = await core.ledger.size()
    path = config.ledger_path
    size["file_bytes"] = path.stat().st_size if path.exists() else 0
    sync = await sync_status(config, core.ledger)
    service = holder(config.ledger_path)
    running: dict[str, Any] | None = asdict(service) if service is not None else None
    if running is not None:
        from bot.control import ControlError, NoService, Ping, ask_service

        try:  # what the running service says of its chat connections
            _, answer = await ask_service(config.ledger_path, Ping(), 5.0)
            running["chat"] = answer.get("chat")
        except (NoService, ControlError, OSError, TimeoutError):
            running["chat"] = None
    return {
        "now": now.isoformat(),
        "service": running,
        "targets": targets,
        "sources": sources,
        "sync": sync,
        "ledger": size,
    }


def cmd_status(args: argparse.Namespace) -> int:
    async def body(core: Any) -> int:
        status = await _status(core, datetime.now(UTC))
        if args.json:
            print_json(status)
            return 0
        tz = core.config.project.tz

        def local(stamp: str | None) -> str:
            """A stored ISO time, on the project's wall clock (the JSON keeps ISO 8601)."""
            if not stamp:
                return "-"
            return datetime.fromisoformat(stamp).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")

        service = status["service"]
        if service is not None:
            print(
                f"Service: donorbot run, pid {service['pid']} on {service['host']}, since {local(service['since'])}"
            )
            for platform, chat in (service.get("chat") or {}).items():
                state = (
                    "connected" if chat["connected"] else f"not connected ({chat['problem'] or 'connecting'})"
                )
                print(f"  {platform}: {state}")
        else:
            print("Service: not running (no donorbot run holds this ledger)")
        print("Targets")
        if not status["targets"]:
            print("  (none configured)")
        for t in status["targets"]:
            when = local(t["next_run"]) if t["next_run"] else "disabled"
            counts = ", ".join(f"{n} {state}" for state, n in t["deliveries"].items())
            print(f"  {t['name']} ({t['platform']}): next run {when}", end="")
            print(f" for {t['next_month']}; {counts}" if t["next_month"] else f"; {counts}")
            for d in t["recent"]:
                error = f": {d['error']}" if d["error"] and d["state"] != "sent" else ""
                print(f"    {d['kind']} {d['month']}: {d['state']} (attempts {d['attempts']}){error}")
        print("Sources")
        if not status["sources"]:
            print("  (no donation yet)")
        for s in status["sources"]:
            print(f"  {s['source']}: {s['donations']} donation(s), last {local(s['last'])}")
        from bot.sources.sync.status import status_lines

        print("\n".join(status_lines(status["sync"], local)))
        ledger = status["ledger"]
        print(
            f"Ledger: {ledger['donations_stored']} donations stored, {ledger['donations_counted']} counted, "
            f"{ledger['refunds_pending']} refund(s) waiting for their donation, "
            f"{ledger['file_bytes'] / 1e6:.1f} MB ({core.config.ledger_path})"
        )
        return 0

    return with_core(args, body)
