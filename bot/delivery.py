"""The outbox: every bulletin reaches every target once.

For each (kind, month, target) the ledger holds one ``deliveries`` row:

1. *claim*: the row is created ``pending`` (or found pending from a run that
   crashed) before anything is sent;
2. *send*: the adapter posts with an idempotency key derived from
   (target, month, generation), which becomes the Matrix transaction id or
   the Discord nonces, so a resend after a crash between 2 and 3 is
   deduplicated by the platform and the community sees one message;
3. *mark*: the row becomes ``sent`` with the platform's message ids.

Transient errors (network, 5xx, 429) are retried with exponential backoff,
honouring Retry-After; when the attempts run out the row stays ``pending`` for
the next run. Permanent errors (missing permission, unknown room) mark it
``failed`` with the reason. ``force`` posts a month again under a new
generation, hence a new key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.announcements import BULLETIN, Unbuildable, message_for
from bot.chat.commands import PublishOutcome
from bot.chat.errors import DeferredDeliveryError, PermanentDeliveryError, TransientDeliveryError
from bot.chat.message import Message
from bot.chat.sender import Sender
from bot.config import Target
from bot.months import Month

__all__ = [
    "BULLETIN",
    "DeliveryRow",
    "RetryPolicy",
    "deliver",
    "deliver_message",
    "deliver_pending",
    "delivery_key",
    "list_deliveries",
    "owe",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before leaving a delivery pending for the next run."""

    attempts: int = 5
    base_delay: float = 2.0
    max_delay: float = 300.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return float(min(self.base_delay * 2 ** (attempt - 1), self.max_delay))


@dataclass(frozen=True)
class DeliveryRow:
    kind: str
    month: Month
    target: str
    generation: int
    state: str
    attempts: int
    last_error: str | None
    message_ids: list[str]
    updated_at: int


def delivery_key(kind: str, month: Month, target: str, generation: int, extra: str = "") -> str:
    """The idempotency key of one delivery: the same after a crash, new after ``--force``."""
    tail = f".{extra}" if extra else ""
    return f"donorbot.{kind}.{target}.{month}.{generation}{tail}"


async def _claim(core: Any, kind: str, month: Month, target: str, force: bool, extra: str) -> tuple[str, int]:
    """Create or reuse the row; returns (state before, generation to send under)."""
    now = int(time.time())
    async with core.ledger.writing() as db:
        cursor = await db.execute(
            "SELECT state, generation FROM deliveries WHERE kind = ? AND month = ? AND target = ?",
            (kind if not extra else f"{kind}:{extra}", month.key, target),
        )
        row = await cursor.fetchone()
        name = kind if not extra else f"{kind}:{extra}"
        if row is None:
            await db.execute(
                "INSERT INTO deliveries (kind, month, target, generation, state, created_at, updated_at)"
                " VALUES (?, ?, ?, 0, 'pending', ?, ?)",
                (name, month.key, target, now, now),
            )
            return "new", 0
        state, generation = row
        if state == "sent" and not force:
            return "sent", generation
        if state == "sent":
            generation += 1
        await db.execute(
            "UPDATE deliveries SET state = 'pending', generation = ?, attempts = CASE WHEN ? THEN 0"
            " ELSE attempts END, updated_at = ? WHERE kind = ? AND month = ? AND target = ?",
            (generation, state == "sent", now, name, month.key, target),
        )
        return state, generation


async def _record(
    core: Any,
    name: str,
    month: Month,
    target: str,
    *,
    state: str,
    error: str | None = None,
    message_ids: list[str] | None = None,
    attempt: bool = False,
) -> None:
    async with core.ledger.writing() as db:
        await db.execute(
            "UPDATE deliveries SET state = ?, last_error = ?, message_ids = coalesce(?, message_ids),"
            " attempts = attempts + ?, updated_at = ? WHERE kind = ? AND month = ? AND target = ?",
            (
                state,
                error,
                json.dumps(message_ids) if message_ids is not None else None,
                1 if attempt else 0,
                int(time.time()),
                name,
                month.key,
                target,
            ),
        )


async def deliver_message(
    core: Any,
    sender: Sender,
    target: Target,
    month: Month,
    make: Callable[[], Awaitable[Message]],
    *,
    kind: str = BULLETIN,
    extra: str = "",
    force: bool = False,
    policy: RetryPolicy | None = None,
) -> PublishOutcome:
    """Deliver one message to one target through the outbox (see the module docstring)."""
    policy = policy or RetryPolicy()
    name = kind if not extra else f"{kind}:{extra}"
    before, generation = await _claim(core, kind, month, target.name, force, extra)
    if before == "sent" and not force:
        return PublishOutcome(target.name, "already sent")
    if before == "pending":
        log.info(
            "delivery %s %s -> %s: pending, sending (again) under the same key", name, month, target.name
        )
    try:
        message = await make()
    except Unbuildable as exc:
        await _record(core, name, month, target.name, state="failed", error=str(exc))
        log.warning("delivery %s %s -> %s dropped: %s", name, month, target.name, exc)
        return PublishOutcome(target.name, "failed", str(exc))
    except Exception as exc:  # a broken template must not lose the delivery: it stays pending
        await _record(core, name, month, target.name, state="pending", error=str(exc))
        log.error("delivery %s %s -> %s: cannot build the message: %s", name, month, target.name, exc)
        return PublishOutcome(target.name, "pending", f"cannot build the message: {exc}")
    key = delivery_key(kind, month, target.name, generation, extra)
    reason = ""
    for attempt in range(1, policy.attempts + 1):
        try:
            ids = await sender.send(target, message, key)
        except PermanentDeliveryError as exc:
            await _record(core, name, month, target.name, state="failed", error=str(exc), attempt=True)
            log.error("delivery %s %s -> %s failed: %s", name, month, target.name, exc)
            return PublishOutcome(target.name, "failed", str(exc))
        except DeferredDeliveryError as exc:  # the adapter already retried: the next sweep tries again
            await _record(core, name, month, target.name, state="pending", error=str(exc), attempt=True)
            log.warning(
                "delivery %s %s -> %s: %s; left pending for the next sweep", name, month, target.name, exc
            )
            return PublishOutcome(target.name, "pending", str(exc))
        except TransientDeliveryError as exc:
            reason = str(exc)
            await _record(core, name, month, target.name, state="pending", error=reason, attempt=True)
            if attempt == policy.attempts:
                break
            delay = policy.delay(attempt, exc.retry_after)
            log.warning(
                "delivery %s %s -> %s: %s; retry %d/%d in %.1f s",
                name, month, target.name, reason, attempt, policy.attempts - 1, delay,
            )  # fmt: skip
            await policy.sleep(delay)
            continue
        await _record(core, name, month, target.name, state="sent", message_ids=ids, attempt=True)
        log.info("delivery %s %s -> %s: sent (%s)", name, month, target.name, ", ".join(ids))
        return PublishOutcome(target.name, "sent", ", ".join(ids))
    return PublishOutcome(target.name, "pending", f"will retry: {reason}")


async def deliver(
    core: Any,
    senders: Mapping[str, Sender],
    month: Month,
    targets: Sequence[Target],
    *,
    force: bool = False,
    policy: RetryPolicy | None = None,
) -> list[PublishOutcome]:
    """Post ``month``'s bulletin to each target, once (unless ``force``)."""
    outcomes = []
    for target in targets:
        sender = senders.get(target.platform)
        if sender is None:
            outcomes.append(PublishOutcome(target.name, "failed", f"{target.platform} is not connected"))
            continue
        locale = core.config.locale_of(target)

        async def make(locale: str = locale) -> Message:
            return await message_for(core, BULLETIN, month, locale)

        outcomes.append(await deliver_message(core, sender, target, month, make, force=force, policy=policy))
    return outcomes


async def owe(core: Any, kind: str, month: Month, target: str, now: datetime | None = None) -> bool:
    """Record that ``target`` is owed this message (a pending delivery); False if it already was."""
    stamp = int(now.timestamp()) if now is not None else int(time.time())
    async with core.ledger.writing() as db:
        cursor = await db.execute(
            "INSERT OR IGNORE INTO deliveries (kind, month, target, state, created_at, updated_at)"
            " VALUES (?, ?, ?, 'pending', ?, ?)",
            (kind, month.key, target, stamp, stamp),
        )
        return bool(cursor.rowcount)


async def deliver_pending(
    core: Any,
    senders: Mapping[str, Sender],
    targets: Sequence[Target],
    *,
    policy: RetryPolicy | None = None,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> list[PublishOutcome]:
    """Send what is owed: every pending delivery to one of ``targets`` whose platform is connected.

    A delivery owed for longer than ``max_age`` is given up (marked failed): a
    bulletin or an alert weeks late would be news no more.
    """
    by_name = {t.name: t for t in targets if t.enabled and t.platform in senders}
    if not by_name:
        return []
    rows = await core.ledger.query(
        "SELECT kind, month, target, created_at FROM deliveries WHERE state = 'pending' ORDER BY created_at, id"
    )
    outcomes = []
    moment = (now or datetime.now(UTC)).timestamp()
    for kind, month_key, target_name, created_at in rows:
        target = by_name.get(target_name)
        if target is None:
            continue
        if max_age is not None and created_at < moment - max_age.total_seconds():
            reason = f"not delivered within {max_age.days} day(s); given up"
            await _record(core, kind, Month.from_key(month_key), target.name, state="failed", error=reason)
            log.warning("delivery %s %s -> %s: %s", kind, Month.from_key(month_key), target.name, reason)
            outcomes.append(PublishOutcome(target.name, "failed", reason))
            continue
        month = Month.from_key(month_key)
        locale = core.config.locale_of(target)

        async def make(kind: str = kind, month: Month = month, locale: str = locale) -> Message:
            return await message_for(core, kind, month, locale)

        outcomes.append(
            await deliver_message(
                core, senders[target.platform], target, month, make, kind=kind, policy=policy
            )
        )
    return outcomes


async def list_deliveries(core: Any) -> list[DeliveryRow]:
    rows = await core.ledger.query(
        "SELECT kind, month, target, generation, state, attempts, last_error, message_ids, updated_at"
        " FROM deliveries ORDER BY month DESC, target"
    )
    return [
        DeliveryRow(
            kind=kind,
            month=Month.from_key(month),
            target=target,
            generation=generation,
            state=state,
            attempts=attempts,
            last_error=error,
            message_ids=json.loads(ids) if ids else [],
            updated_at=updated,
        )
        for kind, month, target, generation, state, attempts, error, ids, updated in rows
    ]
