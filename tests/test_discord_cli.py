"""``donorbot post`` end to end: the real command, a real config file and ledger, the emulator."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from bot.config import Config, load_config
from bot.demo import DEMO_KEY
from tests.discord_emulator import DiscordEmulator
from tests.discord_emulator.configs import write_config

pytest_plugins = ["tests.discord_emulator.fixtures"]

MESSAGES = r"/channels/\d+/messages$"


async def donorbot(config: Config, *args: str) -> tuple[int, str, str]:
    """Run the ``donorbot`` command in its own process, as a maintainer would."""
    env = {
        **os.environ,
        "DONORBOT_DISCORD_TOKEN": os.environ["DONORBOT_DISCORD_TOKEN"],
        "DONORBOT_TEST_PSEUDONYM_KEY": DEMO_KEY,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config.source),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def with_ledger(config: Config, demo_ledger: Path) -> Config:
    config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_ledger, config.ledger_path)
    return config


async def test_post_twice_shows_one_bulletin_and_force_posts_again(
    discord_config: Config, demo_ledger: Path, emulator: DiscordEmulator
) -> None:
    config = with_ledger(discord_config, demo_ledger)
    world = emulator.world

    code, out, err = await donorbot(config, "post", "--month", "2025-12")
    assert code == 0, err
    assert "2025-12 -> general: sent" in out and "2025-12 -> annonces: sent" in out
    general = emulator.sent(world.general.id)
    annonces = emulator.sent(world.announcements.id)
    assert general and annonces
    assert general[0].content.startswith("# Donor Friends – Monthly News – January 2026")
    assert annonces[0].content.startswith(
        f"<@&{world.supporters.id}>\n# Donor Friends – Nouvelles mensuelles"
    )
    assert all(len(m.content) <= 2000 for m in general + annonces)
    assert general[0].files and general[0].files[0].data.startswith(b"\x89PNG"), "the chart is attached"
    assert all(m.request.json["allowed_mentions"] == {"parse": []} for m in general)
    posts = len(emulator.calls("POST", MESSAGES))

    code, out, err = await donorbot(config, "post", "--month", "2025-12")
    assert code == 0, err
    assert "general: already sent" in out and "annonces: already sent" in out
    assert len(emulator.calls("POST", MESSAGES)) == posts, "nothing was sent the second time"

    code, out, err = await donorbot(config, "post", "--month", "2025-12", "--target", "general", "--force")
    assert code == 0, err
    assert "general: sent" in out, out
    again = emulator.sent(world.general.id)
    assert len(again) == 2 * len(general)
    assert again[len(general)].content == general[0].content
    old_nonces = {m.request.json["nonce"] for m in general}
    assert old_nonces.isdisjoint(m.request.json["nonce"] for m in again[len(general) :])
    assert len(emulator.sent(world.announcements.id)) == len(annonces)


async def test_an_answer_lost_mid_post_is_retried_without_a_duplicate(
    discord_config: Config, demo_ledger: Path, emulator: DiscordEmulator
) -> None:
    config = with_ledger(discord_config, demo_ledger)
    emulator.lose_next_answer(1, method="POST", path=MESSAGES)

    code, out, err = await donorbot(config, "post", "--month", "2025-12", "--target", "general")

    assert code == 0, err
    assert "general: sent" in out
    attempts = emulator.calls("POST", MESSAGES)
    general = emulator.world.general.id
    posted = emulator.sent(general) + [m for t in emulator.threads_of(general) for m in emulator.sent(t.id)]
    assert len(attempts) == len(posted) + 1, "the first part was sent twice..."
    assert len({m.id for m in posted}) == len(posted), "...and shown once"


async def test_a_forbidden_channel_fails_that_target_only(
    tmp_path: Path, demo_ledger: Path, emulator: DiscordEmulator, discord_config: Config
) -> None:
    path = write_config(tmp_path / "forbidden.toml", emulator, general_channel=emulator.world.readonly.id)
    config = with_ledger(load_config(path), demo_ledger)

    code, out, _ = await donorbot(config, "post", "--month", "2025-12")

    assert code == 1
    assert "general: failed" in out and "Missing Permissions" in out
    assert "annonces: sent" in out
    assert emulator.sent(emulator.world.readonly.id) == []


async def test_two_crowd_months_reach_an_announcement_channel_whole_within_discords_limits(
    discord_config: Config, crowd_ledger: Path, emulator: DiscordEmulator
) -> None:
    config = with_ledger(discord_config, crowd_ledger)
    world = emulator.world

    for month in ("2025-11", "2025-12"):
        code, out, err = await donorbot(config, "post", "--month", month, "--target", "annonces")
        assert code == 0, out + err
        assert f"{month} -> annonces: sent" in out, out

    announcements = emulator.sent(world.announcements.id)
    assert len(announcements) == 2, "one announcement message per month"
    assert all(m.payload["flags"] & 1 for m in announcements), "each published"
    assert len(emulator.calls("POST", r"/crosspost$")) == 2, "once each, within the 10 an hour"
    threads = emulator.threads_of(world.announcements.id)
    assert [t.id for t in threads] == [m.id for m in announcements]
    for announcement, thread in zip(announcements, threads, strict=True):
        sent = emulator.sent(thread.id)
        follow = [m for m in sent if m.content]  # the text; the full list of named donors is a file
        files = [m.files[0].filename for m in sent if not m.content]
        assert len(files) <= 1 and all(name.startswith("donateurs-nommes-") for name in files)
        assert announcement.files and announcement.files[0].data.startswith(b"\x89PNG")
        assert "## Dons" not in announcement.content  # annonces is the French target
        assert all(len(m.content) <= 2000 and (m.content or m.files) for m in [announcement, *follow])
        text = "\n".join(m.content for m in follow)
        assert text.count("\n## ") + text.startswith("## ") >= 2, "sponsors and donations sections"
        # Every listed donor is there, with the whole of their message.
        assert text.count(" (") >= 200 and text.count("Merci infiniment pour tout") >= 40
        assert all(m.request.json["allowed_mentions"] == {"parse": []} for m in follow)
    assert len({m.request.json["nonce"] for t in threads for m in emulator.sent(t.id)}) == sum(
        len(emulator.sent(t.id)) for t in threads
    ), "a nonce per part"


async def test_a_crosspost_over_discords_hourly_limit_stays_owed_is_shown_by_status_and_is_published_later(
    discord_config: Config, demo_ledger: Path, emulator: DiscordEmulator
) -> None:
    config = with_ledger(discord_config, demo_ledger)
    channel = emulator.world.announcements.id
    now = emulator.now()
    emulator.crossposts[channel] = [now - 60.0] * 10  # ten crossposts in the last hour: none left

    code, out, err = await donorbot(config, "post", "--month", "2025-12", "--target", "annonces")

    assert "annonces: pending" in out and "crosspost limit" in out, out + err
    assert "annonces: sent" not in out
    [posted] = emulator.sent(channel)
    assert not posted.payload["flags"] & 1, "posted, not published"
    assert emulator.threads_of(channel), "the rest of the bulletin is there already"
    code, status, err = await donorbot(config, "status")
    assert "annonces" in status and "pending" in status and "crosspost limit" in status, status + err

    emulator.clock_offset += 3600  # the window has passed: the next post (or run's sweep) publishes
    code, out, err = await donorbot(config, "post", "--month", "2025-12", "--target", "annonces")

    assert code == 0 and "annonces: sent" in out, out + err
    assert emulator.sent(channel) == [posted] and posted.payload["flags"] & 1, "published, not posted again"
    thread = emulator.threads_of(channel)[0]
    assert len({m.id for m in emulator.sent(thread.id)}) == len(emulator.sent(thread.id)), "no part twice"
    accepted = [r for r in emulator.calls("POST", r"/crosspost$") if r.status == 200]
    assert len(accepted) == 1
