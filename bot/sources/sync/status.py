"""What ``status`` and ``/metrics`` say about the pull sources."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.config import Config
from bot.ledger.store import Ledger
from bot.sources.sync.base import cli_name
from bot.sources.sync.state import SourceState, load_states

__all__ = ["metrics_lines", "status_lines", "sync_status"]


async def sync_status(config: Config, ledger: Ledger) -> list[dict[str, Any]]:
    """One entry per configured source (and per source synced before but no longer configured)."""
    states = await load_states(ledger)
    configured = config.sources.configured()
    out = []
    for key in sorted(set(configured) | set(states)):
        state = states.get(key) or SourceState(key)
        entry = state.to_json()
        entry["source"] = cli_name(key)
        settings = configured.get(key)
        entry["configured"] = settings is not None
        entry["interval_minutes"] = settings.interval_minutes if settings is not None else None
        out.append(entry)
    return out


def status_lines(entries: list[dict[str, Any]], local: Callable[[str | None], str] = str) -> list[str]:
    """The ``Sync`` part of ``donorbot status``; ``local`` shows a stored ISO time to a person."""
    lines = ["Sync"]
    if not entries:
        lines.append("  (no [sources.*] configured)")
    for e in entries:
        every = (
            f", every {e['interval_minutes']:g} min"
            if e["interval_minutes"] is not None
            else ", not configured"
        )
        if e["last_success"]:
            lines.append(
                f"  {e['source']}: last synced {local(e['last_success'])}{every};"
                f" cursor {local(e['cursor']) if e['cursor'] else '-'};"
                f" {e['stored']} donation(s) stored by {e['syncs']} sync(s)"
            )
        else:
            lines.append(f"  {e['source']}: never synced{every}")
        if e["last_error"]:
            lines.append(f"    last attempt {local(e['last_attempt'])} failed: {e['last_error']}")
    return lines


def _stamp(value: str | None) -> str:
    return str(int(datetime.fromisoformat(value).timestamp())) if value else "0"


def _label(source: str) -> str:
    return '{source="' + source.replace("\\", "\\\\").replace('"', '\\"') + '"}'


async def metrics_lines(config: Config, ledger: Ledger) -> list[str]:
    """Prometheus families for the pull sources (read from the ledger at scrape time)."""
    entries = await sync_status(config, ledger)
    out: list[str] = []
    families: tuple[tuple[str, str, Callable[[dict[str, Any]], str]], ...] = (
        ("donorbot_sync_last_success_timestamp_seconds", "Unix time of the source's last successful sync.",
         lambda e: _stamp(e["last_success"])),
        ("donorbot_sync_last_attempt_timestamp_seconds", "Unix time of the source's last sync attempt.",
         lambda e: _stamp(e["last_attempt"])),
        ("donorbot_sync_cursor_timestamp_seconds", "Where the source's next sync starts (Unix time).",
         lambda e: _stamp(e["cursor"])),
        ("donorbot_sync_failing", "1 when the source's last sync failed.",
         lambda e: "1" if e["last_error"] else "0"),
        ("donorbot_sync_failures", "Failed syncs of the source, in all.", lambda e: str(e["failures"])),
        ("donorbot_sync_donations_stored", "Donations stored by the source's syncs, in all.",
         lambda e: str(e["stored"])),
    )  # fmt: skip
    for name, help_text, value in families:
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        out += [f"{name}{_label(e['source'])} {value(e)}" for e in entries]
    return out
