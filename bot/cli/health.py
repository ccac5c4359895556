"""``donorbot healthcheck``: is the running service alive? (for containers and monitors)."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request

from bot.cli.common import EXIT_ERROR, fail, load

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "healthcheck",
        help="ask the running `donorbot run` for /healthz; exit 0 when it answers healthy",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default 5)")
    p.set_defaults(func=cmd_healthcheck)


def health_url(host: str, port: int) -> str:
    """Where the service's /healthz is, seen from this machine."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def cmd_healthcheck(args: argparse.Namespace) -> int:
    config = load(args)
    hooks = config.webhooks
    if not hooks.enabled:
        return fail("webhooks.enabled is false: the service serves no /healthz to ask")
    if hooks.port == 0:
        return fail("webhooks.port is 0 (any free port): set a fixed port to check the service's health")
    url = health_url(hooks.host, hooks.port)
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            body = response.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read(65536).decode("utf-8", "replace").strip()
        return fail(f"{url}: unhealthy ({exc.code}) {detail[:200]}".rstrip())
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return fail(f"{url}: no answer ({reason}); is `donorbot run` running?")
    try:
        status = json.loads(body).get("status", "ok")
    except (ValueError, AttributeError):
        status = body.strip()[:80] or "ok"
    print(f"{url}: {status}")
    return 0 if status in ("ok", "healthy") else EXIT_ERROR
