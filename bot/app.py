"""``donorbot run``: the long-running service, and the one place that wires everything.

Start order: the ledger, the webhook server (with ``/metrics``), the scheduler,
the catch-up of runs missed while the bot was down; the chat adapters connect
in the background, each supervised on its own (one that fails is retried with
backoff and reported; it never takes the others down). Stop order is the
reverse: no new work (scheduler, webhook server), in-flight sends finished or
left pending for the next start, adapters closed, database closed.

Everything the bot posts goes through the outbox (:mod:`bot.outbox`, :mod:`bot.delivery`): a run
first records what it owes (a pending delivery) and then sends what is owed.
Whatever could not be sent (an adapter down, a homeserver unreachable) stays
owed and is sent when the adapter comes back or at the next retry tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from bot.announcements import BULLETIN, owe_alerts, owe_thanks
from bot.chat.commands import CommandService, PublishOutcome
from bot.chat.console import ConsoleSender
from bot.chat.sender import Sender
from bot.config import Config, ConfigError, Target
from bot.control import ControlError, ControlServer, ForgetRequest, Ping, Request, SendRequest
from bot.core import Core
from bot.delivery import RetryPolicy, deliver_message, deliver_owed, deliver_pending, owe
from bot.lease import ServiceLease, control_socket_path
from bot.ledger.health import QUICK_CHECK_AT_OPEN
from bot.ledger.store import LedgerError
from bot.metrics import Metrics
from bot.months import Month
from bot.outbox import OwedRow
from bot.schedule import DueRun, due_runs, trigger_of
from bot.sources.sync.runner import Poller, start_polling

if TYPE_CHECKING:
    from aiohttp import web
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.sources.webhooks.spool import Intake

__all__ = ["ChatBot", "Service"]

log = logging.getLogger(__name__)

RETRY_EVERY = 60.0  # seconds between sweeps of what is owed (and milestone checks)
RECONNECT_MAX = 300.0
STOP_GRACE = 10.0  # seconds in-flight sends get to finish on stop
CONNECT_WAIT = 30.0  # seconds a handed-over post waits for its platform to connect
OWE_RETRY_FIRST = 2.0  # seconds before trying again to record a scheduled run on a busy ledger
OWE_RETRY_MAX = 60.0


class ChatBot(Protocol):
    """What Discord's and Matrix's long-running bots offer (see bot.chat.discord, bot.chat.matrix)."""

    async def start(self) -> None: ...
    async def wait_ready(self) -> None: ...
    async def wait_closed(self) -> None: ...
    async def close(self) -> None: ...
    def sender(self) -> Any: ...


BotFactory = Callable[[Config, CommandService], ChatBot]


def _default_factories() -> dict[str, BotFactory]:
    def discord_bot(config: Config, commands: CommandService) -> ChatBot:
        from bot.chat.discord import DiscordBot

        return DiscordBot(config, commands)

    def matrix_bot(config: Config, commands: CommandService) -> ChatBot:
        from bot.chat.matrix import MatrixBot

        return MatrixBot(config, commands)

    return {"discord": discord_bot, "matrix": matrix_bot}


class _Stopping(Exception):
    """The service is stopping: leave this delivery pending."""


class Service:
    """The bot, running. ``await start()``, then ``await stopped()``, then ``await stop()``.

    Args:
        config: the validated configuration.
        clock: "now" for schedules, catch-up and goals (tests pass a fake one).
        factories: how to build each chat platform's bot (tests may pass their own).
        retry_every: seconds between sweeps of what is owed; 0 disables the sweep.
        stop_grace: seconds in-flight sends get to finish when stopping.
        policy: how deliveries retry (tests pass one with a fake sleep).
        console: where console targets print (default: standard output).
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] | None = None,
        factories: dict[str, BotFactory] | None = None,
        retry_every: float = RETRY_EVERY,
        stop_grace: float = STOP_GRACE,
        policy: RetryPolicy | None = None,
        console: TextIO | None = None,
    ) -> None:
        self.config = config
        self._console = console
        self.clock = clock or (lambda: datetime.now(UTC))
        self.metrics = Metrics()
        self.core: Core | None = None
        self.senders: dict[str, Sender] = {}
        self.problems: dict[str, str] = {}  # platform -> why it is not connected
        self.webhook_address: tuple[str, int] | None = None
        self._routes: list[str] = []
        self._ready = False
        self._factories = factories if factories is not None else _default_factories()
        self._retry_every = retry_every
        self._stop_grace = stop_grace
        self._policy = policy or RetryPolicy(sleep=self._sleep)
        self._stop = asyncio.Event()
        self._stopping = False
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._supervisors: set[asyncio.Task[Any]] = set()
        self._bots: dict[str, ChatBot] = {}
        self._runner: web.AppRunner | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._intake: Intake | None = None
        self.sync: Poller | None = None  # the pull sources ([sources.*]), polled at their intervals
        self.connected: dict[str, asyncio.Event] = {}
        self.lease: ServiceLease | None = None
        self._control: ControlServer | None = None

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def targets(self) -> list[Target]:
        return [t for t in self.config.targets if t.enabled]

    async def start(self) -> None:
        """Take the ledger's lease, open it, listen for webhooks, schedule, catch up; connect chat in the background.

        Raises:
            LeaseHeld: another ``donorbot run`` holds this ledger (one service sends for a ledger).
        """
        socket_path = control_socket_path(self.config.data_dir, self.config.ledger_path)
        self.lease = ServiceLease.acquire(self.config.ledger_path, socket_path)
        try:
            self.core = await Core.open(self.config)
        except BaseException:
            await self.stop()
            raise
        try:
            if self.core.ledger.read_only:
                raise LedgerError(
                    f"{self.config.ledger_path}: the ledger is read-only; `run` needs to write it"
                )
            if self.config.ledger_path.stat().st_size > QUICK_CHECK_AT_OPEN:
                self._spawn(self._check_ledger(), "ledger check")  # too large to check at open
            # A typo in a maintainer's template shows now, not on the 1st of the month.
            problems = self.core.renderer.check()
            if not problems:  # and one that runs: an undefined name shows on a trial render
                from bot.trial import trial_render

                problems = await trial_render(self.config, now=self.clock())
            if problems:
                raise ConfigError([f"news.templates_dir: {problem}" for problem in problems])
            await self._start_webhooks()
            if self.lease is not None:
                self._control = ControlServer(socket_path, self._on_control)
                await self._control.start()
            platforms = {t.platform for t in self.targets}
            if "console" in platforms:
                self.senders["console"] = ConsoleSender(
                    self._console, default_dir=self.config.data_dir / "console"
                )
            if "discord-webhook" in platforms:  # plain HTTPS posts: nothing to connect or supervise
                from bot.chat.discord.webhook import DiscordWebhookSender

                self.senders["discord-webhook"] = DiscordWebhookSender(self.config)
            commands = CommandService(self.core, publish=self.publish, now=self.clock)
            for platform in sorted(platforms - {"console", "discord-webhook"}):
                self.connected[platform] = asyncio.Event()
                self.metrics.adapter_up[platform] = False
                task = asyncio.create_task(self._supervise(platform, commands), name=f"{platform} adapter")
                self._supervisors.add(task)
            self._start_scheduler()
            self.sync = start_polling(
                self.config,
                self.core.ledger,
                lambda new: self._spawn(self._after_donations(list(new)), "alerts"),
            )
            # Remember the milestones already reached before announcing new ones.
            await owe_alerts(self.core, self.targets, self.clock())
            self._spawn(self.catch_up(), "catch-up")
        except BaseException:
            await self.stop()
            raise
        self._ready = True
        targets = ", ".join(f"{t.name} ({t.platform})" for t in self.targets) or "none"
        log.info("ready: targets %s; webhooks %s", targets, self._where())

    def _where(self) -> str:
        if self.webhook_address is None:
            return "off"
        routes = ", ".join([*self._routes, "/healthz", "/metrics"])
        return f"on http://{self.webhook_address[0]}:{self.webhook_address[1]} ({routes})"

    def request_stop(self) -> None:
        self._stop.set()

    async def stopped(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        """No new work; let in-flight sends finish (or leave them pending); close everything."""
        self._stopping = True
        self._stop.set()
        if self._control is not None:
            await self._control.close()
            self._control = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._intake is not None:
            await self._intake.close()  # what the ledger has not taken stays spooled for the next start
            self._intake = None
        if self.sync is not None:
            await self.sync.stop()
            self.sync = None
        if self._tasks:
            _done, late = await asyncio.wait(set(self._tasks), timeout=self._stop_grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("stopping: %d send(s) interrupted, left pending for the next start", len(late))
                await asyncio.wait(late)
        for task in self._supervisors:
            task.cancel()
        for task in self._supervisors:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._supervisors.clear()
        for platform, bot in list(self._bots.items()):
            with contextlib.suppress(Exception):
                await bot.close()
            self._bots.pop(platform, None)
        for sender in self.senders.values():
            with contextlib.suppress(Exception):
                await sender.close()
        self.senders.clear()
        if self.core is not None:
            await self.core.close()
            self.core = None
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        if self._ready:  # a start that failed says why, not "stopped"
            log.info("stopped")
        self._ready = False

    async def _sleep(self, seconds: float) -> None:
        """Back-off sleep that ends at once when the service stops."""
        if self._stopping:
            raise _Stopping
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        if self._stopping or self._stop.is_set():
            raise _Stopping

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        if self._stopping:
            coro.close()
            return
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and not isinstance(error, _Stopping):
            log.error("%s failed: %s", task.get_name(), error, exc_info=error)

    # --- chat adapters --------------------------------------------------------------------

    def chat_state(self) -> dict[str, dict[str, Any]]:
        """Each chat platform's connection: ``{"connected": bool, "problem": str | None}``."""
        state: dict[str, dict[str, Any]] = {
            platform: {"connected": event.is_set(), "problem": self.problems.get(platform)}
            for platform, event in self.connected.items()
        }
        for platform in self.senders:  # console, discord-webhook: nothing to connect
            state.setdefault(platform, {"connected": True, "problem": None})
        return dict(sorted(state.items()))

    async def _supervise(self, platform: str, commands: CommandService) -> None:
        """Keep one platform connected: retry with backoff, report, never give up on the others."""
        delay = 1.0
        while not self._stopping:
            bot = self._factories[platform](self.config, commands)
            try:
                await bot.start()
                await bot.wait_ready()
            except ConfigError as exc:
                # A missing token will not appear by waiting.
                self.problems[platform] = "; ".join(exc.problems)
                log.error("%s: not started: %s", platform, self.problems[platform])
                with contextlib.suppress(Exception):
                    await bot.close()
                return
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await bot.close()
                raise
            except Exception as exc:
                self.problems[platform] = f"cannot connect: {exc}"
                log.error("%s: cannot connect: %s; retrying in %.0f s", platform, exc, delay)
                with contextlib.suppress(Exception):
                    await bot.close()
                with contextlib.suppress(_Stopping):
                    await self._sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            delay = 1.0
            self._bots[platform] = bot
            self.senders[platform] = bot.sender()
            self.problems.pop(platform, None)
            self.metrics.adapter_up[platform] = True
            self.connected[platform].set()
            log.info("%s: connected", platform)
            self._spawn(self.flush([t for t in self.targets if t.platform == platform]), f"{platform} owed")
            try:
                await bot.wait_closed()
                if not self._stopping:
                    log.error("%s: connection closed; reconnecting", platform)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.problems[platform] = f"connection lost: {exc}"
                log.error("%s: connection lost: %s; reconnecting", platform, exc)
            finally:
                self.connected[platform].clear()
                self.metrics.adapter_up[platform] = False
                self.senders.pop(platform, None)
                self._bots.pop(platform, None)
                with contextlib.suppress(Exception):
                    await bot.close()

    # --- webhooks -------------------------------------------------------------------------

    async def _start_webhooks(self) -> None:
        from aiohttp import web

        from bot.sources.webhooks import RedactingAccessLogger, build_webhook_app, enabled_hooks
        from bot.sources.webhooks.guard import Guard, guarded_runner
        from bot.sources.webhooks.spool import Intake, Spool, spool_path

        settings = self.config.webhooks
        if not settings.enabled:
            return
        hooks = enabled_hooks(self.config)
        if hooks and self.config.secret(self.config.ledger.pseudonym_key_env) is None:
            raise ConfigError(
                [
                    f"ledger.pseudonym_key_env: environment variable {self.config.ledger.pseudonym_key_env} is not set"
                ]
            )
        spool = await asyncio.to_thread(Spool, spool_path(self.config.ledger_path))
        self._intake = Intake(spool, self._store, problem=self.ledger_problem)
        await self._intake.start()
        self.metrics.spool = self._intake
        app = build_webhook_app(self.config, self._store, problem=self.ledger_problem, intake=self._intake)
        names = {hook.path: hook.name for hook in hooks}
        self._routes = [_shown_route(hook.path) for hook in hooks]

        @web.middleware
        async def count(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            response = await handler(request)
            resource = request.match_info.route.resource
            platform = names.get(resource.canonical) if resource is not None else None
            if platform is not None:
                self.metrics.webhook(platform, response.status)
            return response

        async def metrics(request: web.Request) -> web.Response:
            assert self.core is not None
            text = await self.metrics.render(self.core)
            return web.Response(text=text, content_type="text/plain", charset="utf-8")

        app.middlewares.append(count)
        app.router.add_get("/metrics", metrics)
        guard = Guard(self.config.webhooks.header_timeout_seconds, self.config.webhooks.max_connections)
        runner = guarded_runner(app, guard, access_log_class=RedactingAccessLogger)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as exc:
            raise OSError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from exc
        for address in runner.addresses:
            self.webhook_address = (str(address[0]), int(address[1]))
            break

    def ledger_problem(self) -> str | None:
        """Why the ledger must not take webhooks (deleted, replaced, damaged), said without its path."""
        return None if self.core is None else self.core.ledger.problem(with_path=False)

    async def _check_ledger(self) -> None:
        assert self.core is not None
        if (why := await self.core.ledger.check_soundness()) is not None:
            log.error("%s", why)

    async def _store(self, items: list[Any]) -> Any:
        assert self.core is not None
        result = await self.core.ledger.write(items)
        if result.inserted:
            source = getattr(items[0], "source", "unknown") if items else "unknown"
            self.metrics.donations_received[source] += result.inserted
            self._spawn(self._after_donations(items), "alerts")
        return result

    async def _after_donations(self, items: list[Any]) -> None:
        assert self.core is not None
        fresh = await owe_alerts(self.core, self.targets, self.clock())
        thanks = await owe_thanks(self.core, items, self.targets, self.clock())
        if fresh:
            log.info("milestone(s) reached: %s", ", ".join(fresh))
        if fresh or thanks:
            await self.flush([t for t in self.targets if t.alerts or t.thanks])

    # --- scheduling -----------------------------------------------------------------------

    def _start_scheduler(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone=self.config.project.tz)
        for target in self.targets:
            scheduler.add_job(
                self.fire,
                trigger_of(self.config, target),
                args=[target.name],
                id=f"bulletin:{target.name}",
                name=f"bulletin to {target.name}",
                misfire_grace_time=3600,  # a late loop still runs it; catch-up covers longer gaps
                coalesce=True,
            )
        if self._retry_every > 0:
            scheduler.add_job(
                self.sweep, "interval", seconds=self._retry_every, id="sweep", name="owed deliveries",
                coalesce=True, max_instances=1,
            )  # fmt: skip
        scheduler.start()
        self._scheduler = scheduler

    def next_runs(self) -> dict[str, datetime | None]:
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    async def fire(self, target_name: str) -> None:
        """The scheduler's job: the run goes on as a task of its own, whose failures are logged."""
        self._spawn(self.scheduled_run(target_name), f"bulletin to {target_name}")

    async def scheduled_run(self, target_name: str) -> None:
        """A target's cron fired: owe it the last complete month's bulletin, then send what it is owed.

        Recording what is owed comes first, and is tried again while the ledger cannot be
        written (an import holding its write lock): a busy ledger delays the bulletin, never
        loses it.
        """
        assert self.core is not None
        target = self.config.target(target_name)
        fired = self.clock()
        month = self.core.last_complete_month(fired)
        await self._owe_until_recorded(BULLETIN, month, target.name, fired)
        log.info("scheduled: bulletin %s -> %s", month, target.name)
        await self.flush([target])

    async def _owe_until_recorded(self, kind: str, month: Month, target: str, now: datetime) -> bool:
        assert self.core is not None
        delay = OWE_RETRY_FIRST
        while True:
            try:
                return await owe(self.core, kind, month, target, now)
            except LedgerError as exc:
                log.warning(
                    "%s %s -> %s: cannot record it yet (%s); trying again in %.0f s",
                    kind, month, target, exc, delay,
                )  # fmt: skip
                await self._sleep(delay)
                delay = min(delay * 2, OWE_RETRY_MAX)

    async def catch_up(self) -> list[DueRun]:
        """Runs missed while the bot was down (within ``catch_up_days``): owe them, then send."""
        assert self.core is not None
        due = due_runs(self.config, self.clock(), self.targets)
        for run in due:
            if await owe(self.core, BULLETIN, run.month, run.target, self.clock()):
                log.info("catch-up: bulletin %s -> %s (was due %s)", run.month, run.target, run.fire_time)
        await self.flush(self.targets)
        return due

    async def sweep(self) -> None:
        """Every minute: milestones crossed by imports from other processes, and what is still owed."""
        assert self.core is not None
        now = self.clock()
        # A scheduled run whose recording never happened (the ledger was busy all along) is owed all the same.
        for run in due_runs(self.config, now, self.targets):
            if await self.core.outbox.get(BULLETIN, run.month, run.target) is None and await owe(
                self.core, BULLETIN, run.month, run.target, now
            ):
                log.info(
                    "sweep: bulletin %s -> %s was due %s and is now owed",
                    run.month,
                    run.target,
                    run.fire_time,
                )
        if await owe_alerts(self.core, self.targets, now):
            log.info("milestone(s) reached")
        await self.flush(self.targets)

    # --- sending --------------------------------------------------------------------------

    def _lock(self, target: str) -> asyncio.Lock:
        return self._locks.setdefault(target, asyncio.Lock())

    async def flush(self, targets: Iterable[Target]) -> list[PublishOutcome]:
        """Send what each target is owed (targets in parallel, each target's deliveries in order)."""
        assert self.core is not None
        core = self.core

        async def one(target: Target) -> list[PublishOutcome]:
            if target.platform not in self.senders:
                return []
            async with self._lock(target.name):
                outcomes = await deliver_pending(
                    core,
                    self.senders,
                    [target],
                    policy=self._policy,
                    max_age=timedelta(days=self.config.schedule.catch_up_days),
                    now=self.clock(),
                )
            for outcome in outcomes:
                self.metrics.deliveries[(outcome.target, outcome.state)] += 1
            return outcomes

        results = await asyncio.gather(*(one(t) for t in targets), return_exceptions=True)
        outcomes: list[PublishOutcome] = []
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, _Stopping | asyncio.CancelledError):
                    raise result
                log.error("sending failed: %s", result, exc_info=result)
            else:
                outcomes.extend(result)
        return outcomes

    async def publish(self, month: Month, targets: Collection[str] | None = None) -> list[PublishOutcome]:
        """``news post``: post ``month`` now to ``targets`` (names; None: every target), once each."""
        assert self.core is not None
        core = self.core
        outcomes = []
        for target in self.targets:
            if targets is not None and target.name not in targets:
                continue
            sender = self.senders.get(target.platform)
            if sender is None:
                reason = f"{target.platform}: {self.problems.get(target.platform, 'connecting')}"
                row = await core.outbox.request(BULLETIN, month, target.name, now=self.clock())
                if row.state == "sent":
                    outcomes.append(PublishOutcome(target.name, "already sent", ", ".join(row.message_ids)))
                    continue
                await core.outbox.note(BULLETIN, month, target.name, reason)
                outcomes.append(PublishOutcome(target.name, "pending", reason))
                continue
            locale = self.config.locale_of(target)

            async def make(locale: str = locale) -> Any:
                return await core.bulletin(month, locale)

            async with self._lock(target.name):
                outcome = await deliver_message(core, sender, target, month, make, policy=self._policy)
            self.metrics.deliveries[(outcome.target, outcome.state)] += 1
            outcomes.append(outcome)
        return outcomes

    # --- hand-over from other processes (bot.control) --------------------------------------

    async def _on_control(self, request: Request) -> dict[str, Any]:
        assert self.core is not None
        if isinstance(request, Ping):
            assert self.lease is not None
            return {"pid": self.lease.info.pid, "since": self.lease.info.since, "chat": self.chat_state()}
        if isinstance(request, SendRequest):
            outcomes = await self.send_owed(request.deliveries)
            return {
                "outcomes": [{"target": o.target, "state": o.state, "detail": o.detail} for o in outcomes]
            }
        return {"result": await self.forget(request)}

    async def forget(self, request: ForgetRequest) -> dict[str, Any]:
        """``donorbot forget`` handed over: the service forgets with its own ledger connection."""
        from dataclasses import asdict, is_dataclass

        from bot.ledger.pseudonym import parse_donor_argument

        assert self.core is not None
        try:
            identity = parse_donor_argument(request.donor)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        done = await self.core.ledger.forget(identity)
        log.info("a donor was forgotten at the request of `donorbot forget`")
        return asdict(done) if is_dataclass(done) and not isinstance(done, type) else dict(done)

    async def send_owed(self, owed: Iterable[OwedRow]) -> list[PublishOutcome]:
        """Send deliveries another process recorded as owed (``donorbot post`` handed over)."""
        assert self.core is not None
        outcomes = []
        for row in owed:
            try:
                target = self.config.target(row.target)
            except KeyError:
                outcomes.append(PublishOutcome(row.target, "failed", "no such target"))
                continue
            waiting = self.connected.get(target.platform)
            if target.platform not in self.senders and waiting is not None:
                with contextlib.suppress(TimeoutError):  # just started: give the adapter a moment
                    await asyncio.wait_for(waiting.wait(), CONNECT_WAIT)
            problems: dict[str, str] = {target.platform: self.problems.get(target.platform, "connecting")}
            async with self._lock(target.name):
                done = await deliver_owed(
                    self.core, self.senders, [row], self.targets, policy=self._policy, problems=problems
                )
            for outcome in done:
                self.metrics.deliveries[(outcome.target, outcome.state)] += 1
            outcomes.extend(done)
        return outcomes


def _shown_route(path: str) -> str:
    """A route as the log may show it: a secret path segment is never written out."""
    return re.sub(r"\{[^}]*\}", "{secret}", path)
