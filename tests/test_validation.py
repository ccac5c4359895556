"""check-config gives the verdict every command gives: one validation path (bot.validation).

What check-config refuses, run and the other commands refuse with the same line; what it accepts,
run starts with; a too-short pseudonym key is refused by all of them; a secret pasted where a
variable's name belongs is never echoed back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

KEY_ENV = "DONORBOT_PSEUDONYM_KEY"
GOOD_KEY = "a-pseudonym-key-long-enough-for-tests"
SHORT_KEY = "14-bytes-key!!"  # 14 bytes


def donorbot(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, "T_DISCORD", "T_KOFI")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        capture_output=True, text=True, env={**clean, **(env or {})}, timeout=120,
    )  # fmt: skip


def project(folder: Path, extra: str = "") -> Path:
    config = folder / "config.toml"
    config.write_text(
        '[project]\nname = "Donor Friends"\ntimezone = "Europe/Paris"\ndata_dir = "data"\n\n'
        '[webhooks]\nport = 0\n\n[[targets]]\nname = "console"\nplatform = "console"\n' + extra,
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def refusal(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines a refused command printed about the configuration (log lines aside)."""
    return [line for line in done.stderr.splitlines() if "config.toml" in line and " WARNING " not in line]


def test_a_14_byte_pseudonym_key_is_refused_by_check_config_as_by_every_command(tmp_path: Path) -> None:
    config = project(tmp_path)
    csv = tmp_path / "d.csv"
    csv.write_text("id,date,amount,currency\nx1,2026-10-02,5.00,EUR\n", encoding="utf-8")
    env = {KEY_ENV: SHORT_KEY}
    expected = (
        f"{config}: ledger.pseudonym_key_env: the key in {KEY_ENV} is 14 bytes long; it must be at least 16"
        " (e.g. `openssl rand -hex 32`)"
    )
    for args in (
        ("check-config",),
        ("stats",),
        ("preview",),
        ("import", "csv", str(csv)),
        ("add", "--amount", "5", "--currency", "EUR"),
        ("forget", "jo@example.org"),
        ("export-donor", "jo@example.org"),
        ("backup", str(tmp_path / "b.sqlite3")),
        ("status",),
        ("serve",),
        ("run",),
    ):
        done = donorbot(config, *args, env=env)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert refusal(done) == [expected], (args, done.stderr)
    assert SHORT_KEY not in done.stdout + done.stderr
    assert donorbot(config, "check-config", env={KEY_ENV: GOOD_KEY}).returncode == 0


@pytest.mark.parametrize(
    "pasted",
    [
        "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.abcdefghijklmnopqrstuvwxyz0123",  # a Discord bot token
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",  # a GitHub token: a valid identifier
        "kofi-verification-token-5f1c",
        "syt_Ym90_AbCdEfGhIjKlMnOpQrSt_1a2b3c",  # a Synapse access token
    ],
)
def test_a_secret_pasted_into_an_env_key_is_never_echoed(tmp_path: Path, pasted: str) -> None:
    config = project(
        tmp_path,
        f'\n[discord]\ntoken_env = "{pasted}"\n\n[[targets]]\nname = "d"\nplatform = "discord"\nchannel_id = 1\n',
    )
    for args in (("check-config",), ("stats",), ("run",)):
        done = donorbot(config, *args, env={KEY_ENV: GOOD_KEY})
        assert done.returncode == 2, done.stderr
        assert pasted not in done.stdout + done.stderr
        assert pasted[:12] not in done.stdout + done.stderr
        assert f"{config}:14: discord.token_env: this looks like a secret, not a variable name" in done.stderr


def test_a_number_pasted_into_an_env_key_is_not_echoed_either(tmp_path: Path) -> None:
    config = project(tmp_path, "\n[ledger]\npseudonym_key_env = 8362519047362518\n")
    done = donorbot(config, "check-config", env={KEY_ENV: GOOD_KEY})
    assert done.returncode == 2 and "ledger.pseudonym_key_env" in done.stderr
    assert "8362519047362518" not in done.stdout + done.stderr


def start_run(config: Path, env: dict[str, str]) -> tuple[int, str]:
    """``donorbot run`` until it says it runs (then SIGTERM) or exits; (exit code, stderr)."""
    clean = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, "T_DISCORD", "T_KOFI")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**clean, **env},
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        if "donorbot running" in line:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        return (0 if "donorbot running" in line else proc.returncode), err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


DISCORD = (
    '\n[discord]\ntoken_env = "T_DISCORD"\n\n[[targets]]\nname = "d"\nplatform = "discord"\nchannel_id = 1\n'
)


def test_check_config_and_run_agree(tmp_path: Path) -> None:
    # A missing token of an enabled target: both refuse, with the same line.
    config = project(tmp_path, DISCORD)
    env = {KEY_ENV: GOOD_KEY}
    checked = donorbot(config, "check-config", env=env)
    code, err = start_run(config, env)
    assert checked.returncode == 2 and code == 2
    line = f"{config}:14: discord.token_env: environment variable T_DISCORD is not set"
    assert line in checked.stderr.splitlines() and line in err.splitlines()

    # The same target disabled needs no token: both accept.
    config.write_text(config.read_text(encoding="utf-8") + "enabled = false\n", encoding="utf-8")
    checked = donorbot(config, "check-config", env=env)
    assert checked.returncode == 0, checked.stderr
    assert start_run(config, env)[0] == 0

    # An unset webhook secret turns its route off: a warning for both, and both go on.
    config = project(tmp_path, '\n[webhooks.kofi]\nsecret_env = "T_KOFI"\n')
    checked = donorbot(config, "check-config", env=env)
    assert checked.returncode == 0, checked.stderr
    assert (
        "webhooks.kofi.secret_env: environment variable T_KOFI is not set; its route is off" in checked.stderr
    )
    code, err = start_run(config, env)
    assert code == 0 and "environment variable T_KOFI is not set" in err

    # No pseudonym key: both refuse.
    checked = donorbot(config, "check-config")
    code, err = start_run(config, {})
    line = f"{config}: ledger.pseudonym_key_env: environment variable {KEY_ENV} is not set"
    assert checked.returncode == 2 and code == 2
    assert line in checked.stderr.splitlines() and line in err.splitlines()


def test_every_command_goes_through_the_one_validation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A check added to bot.validation reaches every command, check-config included."""
    from bot import validation
    from bot.cli import main

    monkeypatch.setenv(KEY_ENV, GOOD_KEY)
    config = project(tmp_path)
    seen: list[str] = []

    def spy(config: object, command: str) -> validation.Verdict:
        seen.append(command)
        return validation.Verdict(errors=["a problem only the new check finds"])

    monkeypatch.setattr(validation, "CHECKS", ((spy, frozenset({"*"})),))
    for args in (
        ("check-config",),
        ("stats",),
        ("post",),
        ("run",),
        ("backup", str(tmp_path / "b")),
        ("forget", "a@b.c"),
    ):
        assert main(["--config", str(config), *args]) == 2, args
    assert seen == ["check-config", "stats", "post", "run", "backup", "forget"]
