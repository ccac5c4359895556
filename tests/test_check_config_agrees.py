"""check-config is the bot's own verdict: what run refuses it refuses, what run warns about it warns about."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

KEY = "check-config-test-key-0123456789abcdef"
CONSOLE_ONLY = """\
[project]
name = "Petit Projet"
timezone = "Europe/Paris"
data_dir = "data"

[webhooks]
enabled = {webhooks}
host = "127.0.0.1"
port = 0
{extra}
[[targets]]
name = "terminal"
platform = "console"
"""


def _write(tmp_path: Path, extra: str = "", webhooks: str = "false") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONSOLE_ONLY.format(extra=extra, webhooks=webhooks), encoding="utf-8")
    return path


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONORBOT_")}
    env["DONORBOT_PSEUDONYM_KEY"] = KEY
    env.update(values)
    return {k: v for k, v in env.items() if v is not None}


def _donorbot(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_quoted_port_is_refused_with_its_line(tmp_path: Path) -> None:
    config = _write(tmp_path)
    config.write_text(config.read_text().replace("port = 0", 'port = "18731"'), encoding="utf-8")
    result = _donorbot(config, "check-config")
    assert result.returncode == 2
    line = _line_of(config, "port =")
    assert f"{config}:{line}: webhooks.port: must be an integer, without quotes" in result.stderr
    assert _donorbot(config, "stats").returncode == 2  # every command, the same verdict


def test_a_misspelt_platform_is_named_as_an_unknown_key(tmp_path: Path) -> None:
    config = _write(tmp_path)
    config.write_text(config.read_text().replace('platform = "console"', 'plateform = "console"'), "utf-8")
    result = _donorbot(config, "check-config")
    assert result.returncode == 2
    line = _line_of(config, "plateform")
    assert f"{config}:{line}: targets[0].plateform: unknown key (did you mean 'platform'?)" in result.stderr
    assert "platform is missing" not in result.stderr


def test_a_missing_and_an_empty_variable_are_told_apart_with_their_line(tmp_path: Path) -> None:
    config = _write(tmp_path)
    line = _line_of(config, "[project]")
    config.write_text(config.read_text() + '\n[ledger]\npseudonym_key_env = "MY_KEY"\n', encoding="utf-8")
    line = _line_of(config, "pseudonym_key_env")
    missing = _donorbot(config, "check-config", env=_env(DONORBOT_PSEUDONYM_KEY=""))
    assert missing.returncode == 2
    assert (
        f"{config}:{line}: ledger.pseudonym_key_env: environment variable MY_KEY is not set" in missing.stderr
    )
    empty = _donorbot(config, "check-config", env=_env(MY_KEY=""))
    assert empty.returncode == 2
    assert "environment variable MY_KEY is set but empty" in empty.stderr
    assert _donorbot(config, "check-config", env=_env(MY_KEY=KEY)).returncode == 0


def test_a_disabled_target_needs_no_secret(tmp_path: Path) -> None:
    extra = '[discord]\ntoken_env = "DONORBOT_DISCORD_TOKEN"\n'
    config = _write(tmp_path, extra)
    config.write_text(
        config.read_text()
        + '\n[[targets]]\nname = "later"\nplatform = "discord"\nchannel_id = 123\nenabled = false\n',
        encoding="utf-8",
    )
    result = _donorbot(config, "check-config")
    assert result.returncode == 0, result.stderr
    config.write_text(config.read_text().replace("enabled = false", "enabled = true"), encoding="utf-8")
    result = _donorbot(config, "check-config")
    assert result.returncode == 2
    assert "discord.token_env: environment variable DONORBOT_DISCORD_TOKEN is not set" in result.stderr


def _run_until_ready(config: Path) -> str:
    """Start `donorbot run`, wait for it to be ready, stop it; its log."""
    service = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    assert service.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(service.stderr or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("ready" in line for line in lines):
            assert service.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
        reader.join(timeout=10)
        return "".join(lines)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()


def test_an_unset_webhook_secret_is_a_warning_for_both(tmp_path: Path) -> None:
    config = _write(tmp_path, '[webhooks.kofi]\nsecret_env = "DONORBOT_KOFI_TOKEN"\n', webhooks="true")
    result = _donorbot(config, "check-config")
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr
    assert "webhooks.kofi.secret_env: environment variable DONORBOT_KOFI_TOKEN is not set" in result.stderr
    log = _run_until_ready(config)  # run starts too, and says the same
    assert "DONORBOT_KOFI_TOKEN is not set" in log


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_an_undefined_name_in_an_override_template_is_refused_before_the_1st(
    tmp_path: Path, command: str
) -> None:
    from bot.news.render import packaged_templates

    folder = tmp_path / "templates" / "en"
    folder.mkdir(parents=True)
    original = (packaged_templates() / "bulletin.md.j2").read_text(encoding="utf-8")
    broken = original.replace("- {{ f.name(d.name) }}", "- {{ f.name(mois) }}", 1)
    assert broken != original
    (folder / "bulletin.md.j2").write_text(broken, encoding="utf-8")
    config = _write(tmp_path)
    config.write_text(
        config.read_text().replace("[webhooks]", '[news]\ntemplates_dir = "templates"\n\n[webhooks]'), "utf-8"
    )
    result = _donorbot(config, command)
    assert result.returncode == 2, result.stderr
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "mois" in text)
    assert f"{folder / 'bulletin.md.j2'}:{line}: 'mois' is undefined" in result.stderr


def test_run_says_once_what_it_serves_and_a_taken_port_without_stopped(tmp_path: Path) -> None:
    import socket

    config = _write(tmp_path, '[webhooks.kofi]\nsecret_env = "DONORBOT_KOFI_TOKEN"\n', webhooks="true")
    log = _run_until_ready(config)
    assert log.count("DONORBOT_KOFI_TOKEN is not set") == 1, log
    assert "ready: targets terminal (console); webhooks on http://127.0.0.1:" in log
    assert "(/healthz, /metrics)" in log
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config.write_text(config.read_text().replace("port = 0", f"port = {port}"), encoding="utf-8")
        result = _donorbot(config, "run")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "stopped" not in result.stderr
