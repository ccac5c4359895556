"""``donorbot run`` against the Discord protocol emulator: retries, permanent failures,
a crash between sending and recording, SIGTERM during a send.

The unmodified discord.py client connects over real sockets on 127.0.0.1; the
ledger is a real SQLite file (a copy of the demo's).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import Service
from bot.config import Config, load_config
from bot.core import Core
from bot.delivery import RetryPolicy
from bot.demo import DEMO_KEY
from bot.months import Month
from tests.discord_emulator import DiscordEmulator
from tests.discord_emulator.configs import write_config

pytest_plugins = ["tests.discord_emulator.fixtures"]

MESSAGES = r"/channels/\d+/messages$"
DECEMBER = Month(2025, 12)


class FakeSleep:
    """Records back-off delays instead of waiting them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def with_ledger(config: Config, demo_ledger: Path) -> Config:
    """The demo ledger copied in; the webhook server (for /metrics) on any free port."""
    config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_ledger, config.ledger_path)
    return config.model_copy(update={"webhooks": config.webhooks.model_copy(update={"port": 0})})


async def rows(config: Config) -> dict[str, tuple[str, int, str | None]]:
    core = await Core.open(config)
    try:
        found = await core.ledger.query(
            "SELECT target, state, attempts, last_error FROM deliveries WHERE kind = 'bulletin' AND month = ?",
            (DECEMBER.key,),
        )
    finally:
        await core.close()
    return {target: (state, attempts, error) for target, state, attempts, error in found}


@pytest.fixture
async def service_for(emulator: DiscordEmulator) -> AsyncIterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        await service.stop()


async def start(started: list[Service], config: Config, policy: RetryPolicy) -> Service:
    # 20 January 2026: nothing due by the schedule (1 January is older than catch_up_days).
    service = Service(
        config, clock=lambda: datetime(2026, 1, 20, 12, tzinfo=UTC), retry_every=0, policy=policy
    )
    started.append(service)
    await service.start()
    await asyncio.wait_for(service.connected["discord"].wait(), 30)
    # On connecting, the service sends what is owed in the background; let that finish (nothing is
    # owed yet) so that it cannot take a delivery a test records next for a second attempt.
    flushing = [task for task in service._tasks if task.get_name() == "discord owed"]
    if flushing:
        await asyncio.wait_for(asyncio.gather(*flushing), 30)
    return service


async def test_server_errors_are_retried_by_discord_py_alone_and_a_long_429_waits_for_the_sweep(
    discord_config: Config, demo_ledger: Path, emulator: DiscordEmulator, service_for: list[Service]
) -> None:
    config = with_ledger(discord_config, demo_ledger)
    sleep = FakeSleep()
    service = await start(service_for, config, RetryPolicy(attempts=5, base_delay=2.0, sleep=sleep))
    emulator.fail_next(1, 500, method="POST", path=MESSAGES)
    emulator.fail_next(1, 429, retry_after=120, method="POST", path=MESSAGES)

    outcomes = {o.target: o for o in await service.publish(DECEMBER)}

    # discord.py tried the 500 again itself; the 429's two minutes are not slept through.
    assert outcomes["general"].state == "pending" and "120 s" in outcomes["general"].detail
    assert outcomes["annonces"].state == "sent"
    assert sleep.delays == [], "no second retry layer on top of discord.py's"
    statuses = [r.status for r in emulator.calls("POST", MESSAGES)]
    assert statuses[:2] == [500, 429]
    state, attempts, error = (await rows(config))["general"]
    assert (state, attempts) == ("pending", 1) and error is not None and "rate limited" in error

    await service.sweep()  # the next minute's sweep

    assert (await rows(config))["general"][:2] == ("sent", 2)
    general = emulator.sent(emulator.world.general.id)
    assert len(general) == 1 and general[0].content.startswith(
        "# Donor Friends – Monthly News – January 2026"
    )


async def test_a_forbidden_channel_is_failed_with_its_reason_and_the_others_are_served(
    tmp_path: Path, demo_ledger: Path, emulator: DiscordEmulator, discord_config: Config,
    service_for: list[Service], capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    path = write_config(tmp_path / "forbidden.toml", emulator, general_channel=emulator.world.readonly.id)
    config = with_ledger(load_config(path), demo_ledger)
    service = await start(service_for, config, RetryPolicy(sleep=FakeSleep()))

    outcomes = {o.target: o for o in await service.publish(DECEMBER)}

    assert outcomes["general"].state == "failed" and "Missing Permissions" in outcomes["general"].detail
    assert outcomes["annonces"].state == "sent"
    state, attempts, error = (await rows(config))["general"]
    assert (state, attempts) == ("failed", 1), "a permanent error is not retried"
    assert error is not None and "Missing Permissions" in error
    await service.stop()

    from bot.cli import main

    assert await asyncio.to_thread(main, ["--config", str(path), "status"]) == 0
    out = capsys.readouterr().out
    assert "general (discord)" in out and "bulletin 2025-12: failed (attempts 1): " in out
    assert "Missing Permissions" in out


async def test_a_crash_between_sending_and_recording_shows_one_message_after_restart(
    discord_config: Config, demo_ledger: Path, emulator: DiscordEmulator, service_for: list[Service]
) -> None:
    config = with_ledger(discord_config, demo_ledger)
    # The post reaches Discord but its answer is lost, and the bot goes down before recording it.
    emulator.lose_next_answer(1, method="POST", path=MESSAGES)
    first = await start(service_for, config, RetryPolicy(attempts=1, sleep=FakeSleep()))
    outcomes = {o.target: o.state for o in await first.publish(DECEMBER)}
    assert outcomes["general"] == "pending"
    assert (await rows(config))["general"][0] == "pending"
    assert len(emulator.sent(emulator.world.general.id)) == 1, "the first part was posted"
    await first.stop()

    second = await start(service_for, config, RetryPolicy(sleep=FakeSleep()))
    await second.flush(second.targets)

    posted = emulator.sent(emulator.world.general.id)
    assert (await rows(config))["general"][0] == "sent"
    first_parts = [m for m in posted if m.content.startswith("# Donor Friends")]
    assert len(first_parts) == 1, "Discord deduplicated the resend by its nonce: one bulletin"
    assert len({m.request.json["nonce"] for m in posted}) == len(posted)


async def test_sigterm_during_a_send_stops_cleanly_and_the_next_start_posts_once(
    tmp_path: Path, demo_ledger: Path, emulator: DiscordEmulator, discord_config: Config
) -> None:
    # Every day at midnight, so that a run is due whenever the test runs; one target.
    path = write_config(
        tmp_path / "daily.toml",
        emulator,
        extra='[schedule]\ncron = "0 0 * * *"\ncatch_up_days = 2\n[webhooks]\nport = 0\n',
    )
    config = with_ledger(load_config(path), demo_ledger)
    env = {**os.environ, "DONORBOT_TEST_PSEUDONYM_KEY": DEMO_KEY, "PYTHONUNBUFFERED": "1"}
    # Both targets' first posts are rate limited for an hour: the bot is waiting to retry when stopped.
    emulator.fail_next(2, 429, retry_after=3600, method="POST", path=MESSAGES)

    async def run() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(path), "run",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip

    proc = await run()
    await emulator.until(lambda: len(emulator.calls("POST", MESSAGES)) == 2, within=60)
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "stopping" in out.decode()
    assert not any(emulator.sent(c.id) for c in emulator.world.guild.channels), "nothing got through"
    core = await Core.open(config)
    try:
        pending = await core.ledger.query("SELECT target, state FROM deliveries WHERE kind = 'bulletin'")
    finally:
        await core.close()
    assert {state for _, state in pending} == {"pending"}, "left pending for the next start"

    proc = await run()
    try:
        world = emulator.world
        await emulator.until(
            lambda: bool(emulator.sent(world.general.id)) and bool(emulator.sent(world.announcements.id)),
            within=60,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    for channel in (emulator.world.general.id, emulator.world.announcements.id):
        titles = [m for m in emulator.sent(channel) if "# Donor Friends" in m.content]
        assert len(titles) == 1, f"one bulletin in channel {channel}"


async def test_a_refused_discord_token_does_not_stop_the_console_target(
    tmp_path: Path, demo_ledger: Path, emulator: DiscordEmulator, monkeypatch: pytest.MonkeyPatch,
    discord_config: Config,
) -> None:  # fmt: skip
    import io

    monkeypatch.setenv("DONORBOT_DISCORD_TOKEN", "not-the-token")
    path = write_config(
        tmp_path / "mixed.toml",
        emulator,
        extra='[webhooks]\nport = 0\n[[targets]]\nname = "console"\nplatform = "console"\n',
    )
    config = with_ledger(load_config(path), demo_ledger)
    out = io.StringIO()
    # 2 January 2026: the run of 1 January (for December) is owed to every target.
    service = Service(config, clock=lambda: datetime(2026, 1, 2, tzinfo=UTC), retry_every=0, console=out)
    await service.start()
    try:
        async with asyncio.timeout(30):
            # The supervisor's first attempt, over real sockets; it reports through a plain dict.
            while service._tasks or "discord" not in service.problems:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert "cannot connect" in service.problems["discord"]
        assert "Donor Friends – Monthly News – January 2026" in out.getvalue()
        assert not service.connected["discord"].is_set()
        owed = await service.core.ledger.query(  # type: ignore[union-attr]
            "SELECT target, state FROM deliveries WHERE kind = 'bulletin' ORDER BY target"
        )
        assert [tuple(r) for r in owed] == [
            ("annonces", "pending"),
            ("console", "sent"),
            ("general", "pending"),
        ]
    finally:
        await service.stop()


async def test_discord_failing_for_a_while_around_the_scheduled_time_gets_the_bulletin_once(
    discord_config: Config, demo_ledger: Path, emulator: DiscordEmulator, service_for: list[Service]
) -> None:
    config = with_ledger(discord_config, demo_ledger)
    sleep = FakeSleep()
    service = await start(service_for, config, RetryPolicy(attempts=3, sleep=sleep))
    # Discord answers 5xx and 429 to every post for a while: each try is deferred to the next sweep.
    emulator.fail_next(2, 503, method="POST", path=MESSAGES)
    emulator.fail_next(2, 429, retry_after=120, method="POST", path=MESSAGES)

    await service.scheduled_run("general")  # the cron fires in the middle of the outage
    await service.scheduled_run("annonces")
    owed = await rows(config)
    assert {target: state[:2] for target, state in owed.items()} == {
        "general": ("pending", 1),
        "annonces": ("pending", 1),
    }
    assert all("503" in (error or "") for _, _, error in owed.values())
    assert not any(emulator.sent(c.id) for c in emulator.world.guild.channels)
    assert sleep.delays == []

    await service.sweep()  # a minute later: still rate limited, then back
    await service.sweep()

    assert {state for state, _, _ in (await rows(config)).values()} == {"sent"}
    for channel in (emulator.world.general.id, emulator.world.announcements.id):
        titles = [m for m in emulator.sent(channel) if "# Donor Friends" in m.content]
        assert len(titles) == 1


async def test_status_and_metrics_show_each_chat_connection(
    tmp_path: Path, demo_ledger: Path, emulator: DiscordEmulator, discord_config: Config,
    service_for: list[Service], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Matrix on a port nothing listens on: its adapter keeps trying, Discord is up.
    monkeypatch.setenv("DONORBOT_TEST_MATRIX_TOKEN", "syt_token")
    matrix = (
        '[matrix]\nhomeserver = "http://127.0.0.1:9"\nuser_id = "@bot:example.org"\n'
        'access_token_env = "DONORBOT_TEST_MATRIX_TOKEN"\n'
        '[[targets]]\nname = "room"\nplatform = "matrix"\nroom = "!room:example.org"\n'
    )
    path = write_config(tmp_path / "both.toml", emulator, extra=matrix)
    config = with_ledger(load_config(path), demo_ledger)
    service = await start(service_for, config, RetryPolicy(sleep=FakeSleep()))
    await _until(lambda: "matrix" in service.problems)

    from bot.cli import main

    assert await asyncio.to_thread(main, ["--config", str(path), "status"]) == 0
    out = capsys.readouterr().out
    assert "  discord: connected" in out, out
    assert "  matrix: not connected (cannot connect:" in out, out
    assert await asyncio.to_thread(main, ["--config", str(path), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["service"]["chat"]["discord"] == {"connected": True, "problem": None}
    assert status["service"]["chat"]["matrix"]["connected"] is False
    assert service.metrics.adapter_up == {"discord": True, "matrix": False}, "and /metrics"


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(600):  # the adapter's first failure comes within a second or two
        if predicate():
            return
        await asyncio.sleep(0.05)
