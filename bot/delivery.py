"""Delivering: every bulletin reaches every target once.

What is owed, who sends it and what got through live in the outbox
(:mod:`bot.outbox`); this module does the sending:

1. *owe*: the delivery is recorded ``pending`` before anything can fail;
2. *claim*: this process takes it under its own name (another process holding it
   sends it, not us);
3. *send*: the adapter posts with an idempotency key derived from
   (target, month, generation), which becomes the Matrix transaction ids and the
   Discord nonces, and records each part as soon as it is posted, so a resend
   after a crash posts only the rest and the platform deduplicates the rest;
4. *mark*: the row becomes ``sent`` with the platform's message ids.

Transient errors (network, 5xx, 429) are retried with exponential backoff,
honouring Retry-After; when the attempts run out the row stays ``pending`` with
the reason, for the next sweep. Deferred errors (a full disk, a closed output)
and any other error on the way (a template) leave it pending with its reason at
once. Permanent errors
(missing permission, unknown room) mark it ``failed`` with the reason. ``force``
posts a month again under a new generation, hence new keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.announcements import BULLETIN, Unbuildable, message_for
from bot.chat.commands import PublishOutcome
from bot.chat.errors import DeferredDeliveryError, PermanentDeliveryError, TransientDeliveryError
from bot.chat.message import Message
from bot.chat.sender import Sender
from bot.config import Target
from bot.ledger.store import LedgerError
from bot.months import Month
from bot.outbox import Claim, DeliveryRow, Outbox, OwedRow, Taken

if TYPE_CHECKING:
    from bot.core import Core

__all__ = [
    "BULLETIN",
    "DeliveryRow",
    "RetryPolicy",
    "deliver",
    "deliver_message",
    "deliver_owed",
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


def delivery_key(kind: str, month: Month, target: str, generation: int, extra: str = "") -> str:
    """The idempotency key of one delivery: the same after a crash, new after ``--force``."""
    tail = f".{extra}" if extra else ""
    return f"donorbot.{kind}.{target}.{month}.{generation}{tail}"


def taken_outcome(target: str, taken: Taken) -> PublishOutcome:
    """What to say about a delivery this process could not claim."""
    if taken.state == "sent":
        return PublishOutcome(target, "already sent", ", ".join(taken.message_ids))
    if taken.state == "failed":
        return PublishOutcome(target, "failed", taken.last_error or "")
    return PublishOutcome(target, "busy", taken.describe())


async def _keep_claim(outbox: Outbox, claim: Claim) -> None:
    """Renew the claim while the send lasts (back-off waits included)."""
    while True:
        await asyncio.sleep(outbox.lease / 4)
        try:
            if not await outbox.renew(claim):
                log.warning("delivery %s %s -> %s: claim lost", claim.kind, claim.month, claim.target)
                return
        except LedgerError as exc:
            log.warning(
                "delivery %s %s -> %s: cannot renew the claim: %s", claim.kind, claim.month, claim.target, exc
            )


async def _send_claimed(
    outbox: Outbox,
    claim: Claim,
    sender: Sender,
    target: Target,
    make: Callable[[], Awaitable[Message]],
    key: str,
    policy: RetryPolicy,
) -> PublishOutcome:
    what = f"delivery {claim.kind} {claim.month} -> {target.name}"
    if claim.first:
        log.info("%s: sending", what)
    else:
        done = f"; parts already posted: {', '.join(claim.parts)}" if claim.parts else ""
        log.info("%s: resending under the same key (attempt %d%s)", what, claim.attempts + 1, done)
    keeper = asyncio.create_task(_keep_claim(outbox, claim), name=f"claim {claim.id}")
    finished = False
    try:
        try:
            message = await make()
        except Unbuildable as exc:
            await outbox.failed(claim, str(exc), attempt=False)
            finished = True
            log.warning("%s dropped: %s", what, exc)
            return PublishOutcome(target.name, "failed", str(exc))
        except Exception as exc:  # a broken template must not lose the delivery: it stays pending
            reason = f"cannot build the message: {exc}"
            await outbox.retry_later(claim, reason, attempt=False)
            finished = True
            log.error("%s: %s", what, reason)
            return PublishOutcome(target.name, "pending", reason)
        parts = outbox.parts(claim)
        reason = ""
        for attempt in range(1, policy.attempts + 1):
            try:
                ids = await sender.send(target, message, key, parts)
            except PermanentDeliveryError as exc:
                await outbox.failed(claim, str(exc))
                finished = True
                log.error("%s failed: %s", what, exc)
                return PublishOutcome(target.name, "failed", str(exc))
            except DeferredDeliveryError as exc:
                await outbox.retry_later(claim, str(exc))
                finished = True
                log.warning("%s: %s; left pending for the next sweep", what, exc)
                return PublishOutcome(target.name, "pending", str(exc))
            except TransientDeliveryError as exc:
                reason = str(exc)
                if attempt == policy.attempts:
                    break
                await outbox.attempt_failed(claim, reason)
                delay = policy.delay(attempt, exc.retry_after)
                log.warning(
                    "%s: %s; retry %d/%d in %.1f s", what, reason, attempt, policy.attempts - 1, delay
                )
                await policy.sleep(delay)
                continue
            except Exception as exc:  # an adapter's unforeseen error: owed, with its reason, for the sweep
                reason = f"{type(exc).__name__}: {exc}"
                await outbox.retry_later(claim, reason)
                finished = True
                log.error("%s: %s; left pending", what, reason, exc_info=exc)
                return PublishOutcome(target.name, "pending", reason)
            await outbox.sent(claim, ids)
            finished = True
            log.info("%s: sent (%s)", what, ", ".join(ids))
            return PublishOutcome(target.name, "sent", ", ".join(ids))
        await outbox.retry_later(claim, reason)
        finished = True
        log.warning("%s: %s; left pending for the next sweep", what, reason)
        return PublishOutcome(target.name, "pending", f"will retry: {reason}")
    finally:
        keeper.cancel()
        if not finished:  # stopping or cancelled: still owed, and free for whoever sends next
            with contextlib.suppress(Exception):
                await asyncio.shield(outbox.release(claim))


async def _deliver_claimable(
    core: Core,
    sender: Sender,
    target: Target,
    month: Month,
    make: Callable[[], Awaitable[Message]],
    *,
    kind: str,
    extra: str,
    policy: RetryPolicy,
) -> PublishOutcome:
    name = kind if not extra else f"{kind}:{extra}"
    claim = await core.outbox.claim(name, month, target.name)
    if claim is None:
        return PublishOutcome(target.name, "failed", "nothing owed")
    if isinstance(claim, Taken):
        return taken_outcome(target.name, claim)
    key = delivery_key(kind, month, target.name, claim.generation, extra)
    return await _send_claimed(core.outbox, claim, sender, target, make, key, policy)


async def deliver_message(
    core: Core,
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
    """Owe one message to one target, then send it unless it was sent (see the module docstring)."""
    name = kind if not extra else f"{kind}:{extra}"
    row = await core.outbox.request(name, month, target.name, force=force)
    if row.state == "sent":
        return PublishOutcome(target.name, "already sent", ", ".join(row.message_ids))
    return await _deliver_claimable(
        core, sender, target, month, make, kind=kind, extra=extra, policy=policy or RetryPolicy()
    )


def _maker(core: Core, kind: str, month: Month, target: Target) -> Callable[[], Awaitable[Message]]:
    locale = core.config.locale_of(target)

    async def make() -> Message:
        return await message_for(core, kind, month, locale)

    return make


async def deliver(
    core: Core,
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
        make = _maker(core, BULLETIN, month, target)
        outcomes.append(await deliver_message(core, sender, target, month, make, force=force, policy=policy))
    return outcomes


async def deliver_owed(
    core: Core,
    senders: Mapping[str, Sender],
    owed: Sequence[OwedRow],
    targets: Sequence[Target],
    *,
    policy: RetryPolicy | None = None,
    problems: Mapping[str, str] | None = None,
) -> list[PublishOutcome]:
    """Send these owed deliveries now (``post`` handed over to ``run``, or done in place).

    A target whose platform is not connected keeps its delivery pending, with the
    reason recorded on the row (``problems`` says why, by platform).
    """
    by_name = {t.name: t for t in targets}
    outcomes = []
    for row in owed:
        target = by_name.get(row.target)
        if target is None:
            outcomes.append(PublishOutcome(row.target, "failed", "no such target is enabled"))
            continue
        sender = senders.get(target.platform)
        if sender is None:
            reason = f"{target.platform}: {(problems or {}).get(target.platform, 'not connected')}"
            await core.outbox.note(row.kind, row.month, target.name, reason)
            outcomes.append(PublishOutcome(target.name, "pending", reason))
            continue
        make = _maker(core, row.kind, row.month, target)
        outcomes.append(
            await _deliver_claimable(
                core, sender, target, row.month, make, kind=row.kind, extra="", policy=policy or RetryPolicy()
            )
        )
    return outcomes


async def owe(core: Core, kind: str, month: Month, target: str, now: datetime | None = None) -> bool:
    """Record that ``target`` is owed this message (a pending delivery); False if it already was."""
    return await core.outbox.owe(kind, month, target, now)


async def deliver_pending(
    core: Core,
    senders: Mapping[str, Sender],
    targets: Sequence[Target],
    *,
    policy: RetryPolicy | None = None,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> list[PublishOutcome]:
    """Send what is owed: every pending delivery to one of ``targets`` whose platform is connected.

    A delivery owed for longer than ``max_age`` is given up (marked failed): a
    bulletin or an alert weeks late would be news no more. A delivery another
    process is sending is left to it.
    """
    by_name = {t.name: t for t in targets if t.enabled and t.platform in senders}
    if not by_name:
        return []
    outcomes = []
    moment = (now or datetime.now(UTC)).timestamp()
    for row in await core.outbox.pending():
        target = by_name.get(row.target)
        if target is None:
            continue
        if max_age is not None and row.created_at < moment - max_age.total_seconds():
            claim = await core.outbox.claim(row.kind, row.month, row.target)
            if not isinstance(claim, Claim):
                continue
            reason = f"not delivered within {max_age.days} day(s); given up"
            await core.outbox.failed(claim, reason, attempt=False)
            log.warning("delivery %s %s -> %s: %s", row.kind, row.month, target.name, reason)
            outcomes.append(PublishOutcome(target.name, "failed", reason))
            continue
        make = _maker(core, row.kind, row.month, target)
        outcome = await _deliver_claimable(
            core, senders[target.platform], target, row.month, make,
            kind=row.kind, extra="", policy=policy or RetryPolicy(),
        )  # fmt: skip
        if outcome.state != "busy":
            outcomes.append(outcome)
    return outcomes


async def list_deliveries(core: Core) -> list[DeliveryRow]:
    return await core.outbox.rows()
