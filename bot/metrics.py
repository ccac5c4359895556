"""Prometheus text exposition for ``GET /metrics`` on the webhook server.

Counters live in the process (since start); the deliveries and donations
gauges are read from the ledger at scrape time, so they survive restarts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.core import Core

__all__ = ["Metrics"]


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace(chr(10), " ")}"'
        for key, value in sorted(labels.items())
    )
    return "{" + inner + "}"


class Metrics:
    """What ``/metrics`` reports."""

    def __init__(self) -> None:
        self.webhook_requests: Counter[tuple[str, str]] = Counter()  # (platform, outcome)
        self.donations_received: Counter[str] = Counter()  # platform
        self.deliveries: Counter[tuple[str, str]] = Counter()  # (target, state)
        self.adapter_up: dict[str, bool] = {}
        self.spool: Any = None  # the webhook intake (its ``depth``), when webhooks are on

    def webhook(self, platform: str, status: int) -> None:
        outcome = (
            "accepted"
            if status < 300
            else {400: "malformed", 401: "unauthorised", 413: "too_large"}.get(status, "error")
        )
        self.webhook_requests[(platform, outcome)] += 1

    async def render(self, core: Core) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        family("donorbot_webhook_requests_total", "counter", "Webhook deliveries by platform and outcome.")
        for (platform, outcome), n in sorted(self.webhook_requests.items()):
            out.append(f"donorbot_webhook_requests_total{_labels(platform=platform, outcome=outcome)} {n}")
        family(
            "donorbot_webhook_rejections_total", "counter", "Webhook deliveries refused (bad signature...)."
        )
        for (platform, outcome), n in sorted(self.webhook_requests.items()):
            if outcome != "accepted":
                out.append(
                    f"donorbot_webhook_rejections_total{_labels(platform=platform, reason=outcome)} {n}"
                )
        family("donorbot_donations_received_total", "counter", "Donations stored from webhooks since start.")
        for platform, n in sorted(self.donations_received.items()):
            out.append(f"donorbot_donations_received_total{_labels(platform=platform)} {n}")
        family("donorbot_delivery_attempts_total", "counter", "Delivery outcomes since start.")
        for (target, state), n in sorted(self.deliveries.items()):
            out.append(f"donorbot_delivery_attempts_total{_labels(target=target, state=state)} {n}")
        family("donorbot_delivery_failures_total", "counter", "Deliveries that failed since start.")
        for (target, state), n in sorted(self.deliveries.items()):
            if state == "failed":
                out.append(f"donorbot_delivery_failures_total{_labels(target=target)} {n}")
        family("donorbot_adapter_up", "gauge", "1 when the chat adapter is connected.")
        for platform, up in sorted(self.adapter_up.items()):
            out.append(f"donorbot_adapter_up{_labels(platform=platform)} {int(up)}")

        if self.spool is not None:
            waiting, aside = self.spool.depth
            family(
                "donorbot_webhook_spool_depth", "gauge", "Verified webhook deliveries not yet in the ledger."
            )
            out.append(f"donorbot_webhook_spool_depth {waiting}")
            family(
                "donorbot_webhook_spool_poison", "gauge", "Spooled deliveries the ledger refused, set aside."
            )
            out.append(f"donorbot_webhook_spool_poison {aside}")
        family("donorbot_deliveries", "gauge", "Deliveries in the outbox by target and state.")
        for target, state, n in await core.outbox.counts():
            out.append(f"donorbot_deliveries{_labels(target=target, state=state)} {n}")
        family("donorbot_ledger_donations", "gauge", "Donations in the ledger.")
        rows = await core.ledger.query("SELECT coalesce(sum(donations), 0) FROM month_stats")
        out.append(f"donorbot_ledger_donations {rows[0][0]}")
        from bot.sources.sync.status import metrics_lines

        out += await metrics_lines(core.config, core.ledger)
        return "\n".join(out) + "\n"


Scrape = Callable[[], Awaitable[str]]
