"""Exactly once on Discord, through ``donorbot`` processes and the Discord protocol emulator.

A bulletin of several messages records each one as it is posted: after a failure
in the middle, the next ``post`` posts only the rest (one role ping, no part twice),
even when the platform's nonce window is long gone.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
from pathlib import Path

from bot.chat.discord.sender import bulletin_shape
from bot.config import Config
from bot.core import Core
from bot.demo import DEMO_KEY
from bot.months import Month
from tests.discord_emulator import DiscordEmulator

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
    emulator.nonce_window = 0  # long after the first try: Discord would no longer deduplicate anything
    # The announcement gets through; the first message in its thread is refused (rights lost mid-way).
    emulator.fail_next(1, 403, method="POST", path=MESSAGES, skip=1)

    code, out, err = await donorbot(discord_config, "post", "--month", "2025-12", "--target", "annonces")
    assert code == 1, out + err
    assert "annonces: failed" in out
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
    assert [m.content for m in emulator.sent(thread.id)] == plan.thread, "each thread message once, in order"
    pings = [m for m in announcements if f"<@&{world.supporters.id}>" in m.content]
    assert len(pings) == 1, "the role is pinged once"
    assert "resending under the same key" in err and "parts already posted: " in err
