"""Exactly once on Discord, through ``donorbot`` processes and the Discord protocol emulator.

A bulletin of several messages records each one as it is posted: after a failure
in the middle, the next ``post`` posts only the rest (one role ping, no part twice),
even when the platform's nonce window is long gone.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import sys
from pathlib import Path

from bot.chat.discord.sender import bulletin_shape
from bot.config import Config, load_config
from bot.core import Core
from bot.demo import DEMO_KEY
from bot.months import Month
from tests.discord_emulator import DiscordEmulator
from tests.discord_emulator.configs import write_config

pytest_plugins = ["tests.discord_emulator.fixtures"]

MESSAGES = r"/channels/\d+/messages$"
DECEMBER = Month(2025, 12)


async def donorbot(config: Config, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DONORBOT_TEST_PSEUDONYM_KEY": DEMO_KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config.source), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_bulletin_cut_in_the_middle_is_finished_by_the_next_post_without_reposting(
    discord_config: Config, demo_ledger: Path, emulator: DiscordEmulator
) -> None:
    world = emulator.world
    discord_config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_ledger, discord_config.ledger_path)
    core = await Core.open(discord_config)
    try:
        plan = bulletin_shape(await core.bulletin(DECEMBER, "fr"), world.supporters.id)
    finally:
        await core.close()
    assert plan.thread, "the demo's French bulletin takes an announcement and a thread"
    # A one-off command logs only what went wrong at INFO; at DEBUG it says how each delivery went.
    with discord_config.source.open("a", encoding="utf-8") as toml:
        toml.write('\n[logging]\nlevel = "DEBUG"\n')
    emulator.nonce_window = 0  # long after the first try: Discord would no longer deduplicate anything
    # The announcement gets through; the first message in its thread is refused (rights lost mid-way).
    emulator.fail_next(1, 403, method="POST", path=MESSAGES, skip=1)

    code, out, err = await donorbot(discord_config, "post", "--month", "2025-12", "--target", "annonces")
    assert code == 1, out + err
    assert "annonces: failed" in out
    assert "delivery bulletin 2025-12 -> annonces: sending" in err and "resending" not in err, "a first send"
    assert len(emulator.sent(world.announcements.id)) == 1, "the announcement got through"
    with sqlite3.connect(discord_config.ledger_path) as db:
        parts = {part for (part,) in db.execute("SELECT part FROM delivery_parts")}
    assert {"0", "thread"} <= parts and "thread.0" not in parts, "each step is recorded as it is done"

    code, out, err = await donorbot(discord_config, "post", "--month", "2025-12", "--target", "annonces")
    assert code == 0, out + err
    assert "annonces: sent" in out
    announcements = emulator.sent(world.announcements.id)
    assert [m.content for m in announcements] == [plan.announcement], "the announcement is not posted again"
    (thread,) = emulator.threads_of(world.announcements.id)
    in_thread = emulator.sent(thread.id)
    texts = [m.content for m in in_thread if not m.files]
    assert texts == plan.thread, "each thread message once, in order"
    # The crowd month's full list of named donors goes along once, as a file in the thread.
    assert len([m for m in in_thread if m.files]) == 1
    pings = [m for m in announcements if f"<@&{world.supporters.id}>" in m.content]
    assert len(pings) == 1, "the role is pinged once"
    assert "resending under the same key" in err and "parts already posted: " in err


async def test_a_run_killed_mid_send_is_taken_over_at_once_by_the_next_run_and_a_second_run_is_refused(
    tmp_path: Path, demo_ledger: Path, emulator: DiscordEmulator, discord_config: Config
) -> None:
    # Every day at midnight, so that a run is due whenever the test runs.
    path = write_config(
        tmp_path / "daily.toml",
        emulator,
        extra='[schedule]\ncron = "0 0 * * *"\ncatch_up_days = 2\n[webhooks]\nport = 0\n',
    )
    config = load_config(path)
    config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_ledger, config.ledger_path)
    env = {**os.environ, "DONORBOT_TEST_PSEUDONYM_KEY": DEMO_KEY, "PYTHONUNBUFFERED": "1"}
    # Both first posts are rate limited for 50 s: discord.py waits, the first run holding both deliveries.
    emulator.fail_next(2, 429, retry_after=50, method="POST", path=MESSAGES)

    async def run() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(path), "run",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip

    first = await run()
    try:
        await emulator.until(lambda: len(emulator.calls("POST", MESSAGES)) == 2, within=60)
        second = await run()
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 1, err.decode()
        assert f"pid {first.pid} on " in err.decode() and "already running" in err.decode()
    finally:
        first.kill()  # kill -9: no clean-up, its claims still stand in the ledger
        await first.wait()
    with sqlite3.connect(config.ledger_path) as db:
        owners = {owner for (owner,) in db.execute("SELECT owner FROM deliveries WHERE kind = 'bulletin'")}
    assert owners and all(f":{first.pid}:" in (o or "") for o in owners), owners

    third = await run()
    try:
        world = emulator.world
        # At once, not when the dead run's claims expire: its process is gone.
        await emulator.until(
            lambda: bool(emulator.sent(world.general.id)) and bool(emulator.sent(world.announcements.id)),
            within=45,
        )
    finally:
        third.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(third.communicate(), 30)
    assert third.returncode == 0, err.decode()
    for channel in (world.general.id, world.announcements.id):
        titles = [m for m in emulator.sent(channel) if "# Donor Friends" in m.content]
        assert len(titles) == 1, f"one bulletin in channel {channel}"


async def test_two_posts_started_together_post_one_bulletin_per_channel(
    discord_config: Config, demo_ledger: Path, emulator: DiscordEmulator
) -> None:
    discord_config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_ledger, discord_config.ledger_path)
    emulator.nonce_window = 0  # no help from Discord's deduplication: the outbox alone decides
    results = await asyncio.gather(
        *(donorbot(discord_config, "post", "--month", "2025-12") for _ in range(2))
    )
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    world = emulator.world
    for channel in (world.general.id, world.announcements.id):
        titles = [m for m in emulator.sent(channel) if "# Donor Friends" in m.content]
        assert len(titles) == 1, f"one bulletin in channel {channel}"
    said = sorted(line.split(": ", 1)[1] for _, out, _ in results for line in out.splitlines())
    assert [s.split(" (")[0] for s in said] == ["already sent", "already sent", "sent", "sent"], said
