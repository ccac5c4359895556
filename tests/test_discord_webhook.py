"""The discord-webhook target: posting through a channel webhook, without a bot account."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.chat.discord.webhook import DiscordWebhookSender
from bot.chat.errors import DeferredDeliveryError, PermanentDeliveryError
from bot.chat.message import Image, Message
from bot.chat.sender import MemoryParts
from bot.config import Config, ConfigError, DiscordWebhookTarget, load_config
from bot.news.render import Renderer
from tests.discord_emulator import DiscordEmulator
from tests.png_support import tiny_png
from tests.test_discord_cli import donorbot, with_ledger

pytest_plugins = ["tests.discord_emulator.fixtures"]

URL_ENV = "DONORBOT_TEST_WEBHOOK_URL"
WEBHOOKS = r"^/webhooks/\d+/[^/]+$"


def webhook_config(path: Path, emulator: DiscordEmulator, target: str = "") -> Config:
    path.write_text(
        "\n".join(
            [
                "[project]",
                'name = "Donor Friends"',
                'timezone = "Europe/Paris"',
                'donate_urls = ["https://example.org/donate"]',
                f'data_dir = "{path.parent / "data"}"',
                "[ledger]",
                'pseudonym_key_env = "DONORBOT_TEST_PSEUDONYM_KEY"',
                "[[targets]]",
                'name = "hook"',
                'platform = "discord-webhook"',
                f'url_env = "{URL_ENV}"',
                target,
            ]
        ),
        encoding="utf-8",
    )
    return load_config(path)


def long_bulletin(renderer: Renderer) -> Message:
    donors = "\n".join(f"- €5.00 (1st donation), Person {n}: “{'thanks ' * 40}”" for n in range(60))
    markdown = (
        "# Donor Friends – Monthly News – January 2026\n\n1,092 people gave in December.\n\n"
        f"## Donations\n\nA total of €5,000.00, among them:\n\n{donors}\n\nThank you!"
    )
    image = Image("chart.png", tiny_png(), 3, 2, alt="Donors per month")
    return renderer.message(markdown, title="Donor Friends – Monthly News – January 2026", image=image)


def hook_target(config: Config) -> DiscordWebhookTarget:
    target = config.target("hook")
    assert isinstance(target, DiscordWebhookTarget)
    return target


async def send(config: Config, message: Message, parts: MemoryParts | None = None) -> list[str]:
    sender = DiscordWebhookSender(config)
    try:
        return await sender.send(hook_target(config), message, "donorbot.bulletin.hook.2025-12.0", parts)
    finally:
        await sender.close()


async def test_a_text_channels_webhook_posts_the_announcement_then_the_rest_below_it(
    tmp_path: Path, emulator: DiscordEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, emulator.webhook_url(emulator.world.general))
    config = webhook_config(tmp_path / "config.toml", emulator)
    message = long_bulletin(Renderer(config))

    ids = await send(config, message)

    posted = emulator.sent(emulator.world.general.id)
    assert [str(m.id) for m in posted] == ids and len(ids) >= 3
    assert posted[0].content.startswith("# Donor Friends") and posted[0].files, "the chart on the first"
    assert all(len(m.content) <= 2000 for m in posted)
    assert all(m.payload["webhook_id"] for m in posted)
    text = "\n".join(m.content for m in posted)
    assert all(f"Person {n}:" in text for n in range(60))
    calls = emulator.calls("POST", WEBHOOKS)
    assert all(c.query.get("wait") == "true" and "Authorization" not in c.headers for c in calls)
    assert all(c.json is None or c.json["allowed_mentions"] == {"parse": []} for c in calls)


async def test_a_forum_webhook_opens_one_post_named_by_the_title_and_keeps_the_rest_in_it(
    tmp_path: Path, emulator: DiscordEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    forum = emulator.world.forum
    monkeypatch.setenv(URL_ENV, emulator.webhook_url(forum))
    config = webhook_config(tmp_path / "config.toml", emulator, "forum = true")
    message = long_bulletin(Renderer(config))
    parts = MemoryParts()

    ids = await send(config, message, parts)

    [post] = emulator.threads_of(forum.id)
    assert post.name == message.title
    inside = emulator.sent(post.id)
    assert [str(m.id) for m in inside] == ids
    assert inside[0].files and inside[0].content.startswith("# Donor Friends")
    assert parts.done["thread"] == str(post.id)
    calls = emulator.calls("POST", WEBHOOKS)
    assert calls[0].json is None or "thread_name" in (calls[0].json or {})  # multipart carries it
    assert all(c.query.get("thread_id") == str(post.id) for c in calls[1:])

    again = await send(config, message, parts)  # a resend after a crash: the outbox knows every part
    assert again == ids and len(emulator.calls("POST", WEBHOOKS)) == len(calls)


async def test_a_forum_webhook_without_forum_true_is_refused_with_discords_reason(
    tmp_path: Path, emulator: DiscordEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, emulator.webhook_url(emulator.world.forum))
    config = webhook_config(tmp_path / "config.toml", emulator)

    with pytest.raises(PermanentDeliveryError, match=r"220001.*forum = true or thread_id"):
        await send(config, long_bulletin(Renderer(config)))


async def test_one_retry_layer_for_webhooks_bounded_and_long_waits_deferred(
    tmp_path: Path, emulator: DiscordEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, emulator.webhook_url(emulator.world.general))
    config = webhook_config(tmp_path / "config.toml", emulator)
    message = Message(markdown="Hello", text="Hello", html="")
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    emulator.fail_next(100, 500, path=WEBHOOKS)
    sender = DiscordWebhookSender(config, sleep=sleep)
    try:
        with pytest.raises(DeferredDeliveryError, match="after 3 tries"):
            await sender.send(hook_target(config), message, "k")
        assert len(emulator.calls("POST", WEBHOOKS)) == 3 and sleeps == [1.0, 2.0]
        emulator._faults.clear()
        emulator.fail_next(1, 429, retry_after=3600, path=WEBHOOKS)
        with pytest.raises(DeferredDeliveryError, match="3600 s"):
            await sender.send(hook_target(config), message, "k")
        emulator.fail_next(1, 429, retry_after=0.5, path=WEBHOOKS)
        await sender.send(hook_target(config), message, "k")
    finally:
        await sender.close()
    assert sleeps[-1] == 0.5, "a short rate limit is waited out"
    assert len(emulator.sent(emulator.world.general.id)) == 1


def test_the_webhook_url_is_checked_and_forum_excludes_thread_id(
    tmp_path: Path, emulator: DiscordEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DONORBOT_TEST_PSEUDONYM_KEY", "x" * 32)
    monkeypatch.setenv(URL_ENV, "https://example.org/not-a-webhook")
    config = webhook_config(tmp_path / "config.toml", emulator)
    [problem] = config.missing_secrets()
    assert "config.toml:11: targets[0].url_env" in problem and "not a Discord webhook URL" in problem
    monkeypatch.delenv(URL_ENV)
    assert "is not set" in config.missing_secrets()[0]
    with pytest.raises(ConfigError, match="forum and thread_id"):
        webhook_config(tmp_path / "config.toml", emulator, "forum = true\nthread_id = 123")


async def test_donorbot_post_through_a_webhook_without_any_bot_token(
    tmp_path: Path, emulator: DiscordEmulator, demo_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, emulator.webhook_url(emulator.world.general))
    monkeypatch.delenv("DONORBOT_DISCORD_TOKEN", raising=False)
    monkeypatch.setenv("DONORBOT_DISCORD_TOKEN", "")  # donorbot() passes it on: no bot token at all
    config = with_ledger(webhook_config(tmp_path / "config.toml", emulator), demo_ledger)

    code, out, err = await donorbot(config, "post", "--month", "2025-12")
    assert code == 0, out + err
    assert "2025-12 -> hook: sent" in out
    code, out, err = await donorbot(config, "post", "--month", "2025-12")
    assert code == 0 and "hook: already sent" in out, out + err

    posted = emulator.sent(emulator.world.general.id)
    assert posted[0].content.startswith("# Donor Friends – Monthly News – January 2026")
    assert all(len(m.content) <= 2000 for m in posted)
    assert not emulator.calls("GET", "^/users/@me$"), "no bot login"
    assert os.environ[URL_ENV] not in out + err, "the webhook URL (a secret) is never printed"
