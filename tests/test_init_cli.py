"""``donorbot init``: from an empty folder to a configuration every command accepts."""

from __future__ import annotations

import os
import pty
import select
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DONORBOT = [sys.executable, "-m", "bot"]


def _env_file(path: Path) -> dict[str, str]:
    """What `set -a; . donorbot.env` puts in the environment."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONORBOT_")}
    env.update(extra)
    return env


def _donorbot(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DONORBOT, *args],
        cwd=folder,
        env=env if env is not None else _clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0),  # the files must be private whatever the umask
    )


def _keys(table: dict[str, object], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            keys |= _keys(value, f"{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                keys |= _keys(item, f"{name}[].")
        else:
            keys.add(name)
    return keys


def test_init_yes_in_an_empty_folder_gives_a_config_that_check_config_preview_and_post_use(
    tmp_path: Path,
) -> None:
    result = _donorbot(tmp_path, "init", "--yes", "--name", "Les Amis du Libre")
    assert result.returncode == 0, result.stderr
    config, env_file = tmp_path / "config.toml", tmp_path / "donorbot.env"
    for path in (config, env_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert "check-config" in result.stdout and "Next steps" in result.stdout
    secrets = _env_file(env_file)
    assert len(bytes.fromhex(secrets["DONORBOT_PSEUDONYM_KEY"])) == 32
    env = _clean_env(**secrets)

    check = _donorbot(tmp_path, "check-config", env=env)
    assert check.returncode == 0, check.stderr
    assert "OK" in check.stdout and "terminal (console)" in check.stdout
    preview = _donorbot(tmp_path, "preview", env=env)
    assert preview.returncode == 0, preview.stderr
    assert "Les Amis du Libre" in preview.stdout
    post = _donorbot(tmp_path, "post", env=env)
    assert post.returncode == 0, post.stderr
    assert "Les Amis du Libre" in post.stdout


def test_without_the_environment_file_check_config_names_the_missing_key(tmp_path: Path) -> None:
    assert _donorbot(tmp_path, "init", "--yes").returncode == 0
    check = _donorbot(tmp_path, "check-config")
    assert check.returncode == 2
    assert "DONORBOT_PSEUDONYM_KEY" in check.stderr


def test_two_inits_never_share_a_pseudonym_key(tmp_path: Path) -> None:
    keys = set()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        assert _donorbot(tmp_path / name, "init", "--yes").returncode == 0
        keys.add(_env_file(tmp_path / name / "donorbot.env")["DONORBOT_PSEUDONYM_KEY"])
    assert len(keys) == 2


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("# mine\n", encoding="utf-8")
    again = _donorbot(tmp_path, "init", "--yes")
    assert again.returncode == 1
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert (tmp_path / "config.toml").read_text(encoding="utf-8") == "# mine\n"
    assert not (tmp_path / "donorbot.env").exists()
    forced = _donorbot(tmp_path, "init", "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "[project]" in (tmp_path / "config.toml").read_text(encoding="utf-8")


def test_a_bad_option_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    result = _donorbot(tmp_path, "init", "--yes", "--timezone", "Mars/Olympus_Mons")
    assert result.returncode == 2
    assert "Mars/Olympus_Mons" in result.stderr and "time zone" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_chosen_platforms_get_their_sections_and_placeholders_and_check_config_asks_for_them(
    tmp_path: Path,
) -> None:
    result = _donorbot(
        tmp_path,
        "init", "--yes", "--name", "Petit Projet", "--locale", "fr", "--timezone", "Europe/Paris",
        "--currency", "eur", "--donate-url", "https://example.org/don",
        "--platform", "console", "--platform", "matrix", "--platform", "discord",
        "--webhook", "stripe", "--webhook", "opencollective",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Fill in the secrets" in result.stdout
    config = tomllib.loads((tmp_path / "config.toml").read_text(encoding="utf-8"))
    assert config["project"] | {"donate_urls": None} == {
        "name": "Petit Projet",
        "timezone": "Europe/Paris",
        "locale": "fr",
        "base_currency": "EUR",
        "donate_urls": None,
        "data_dir": "data",
    }
    assert config["project"]["donate_urls"] == ["https://example.org/don"]
    assert [t["platform"] for t in config["targets"]] == ["console", "matrix", "discord"]
    assert set(config["webhooks"]) >= {"stripe", "opencollective"}
    secrets = _env_file(tmp_path / "donorbot.env")
    assert secrets["DONORBOT_STRIPE_SECRET"] == ""  # a placeholder to fill in
    assert len(secrets["DONORBOT_OPENCOLLECTIVE_PATH_SECRET"]) >= 24  # ours to choose: chosen
    env = _clean_env(**{k: v for k, v in secrets.items() if v})
    check = _donorbot(tmp_path, "check-config", env=env)
    assert check.returncode == 2
    for variable in ("DONORBOT_DISCORD_TOKEN", "DONORBOT_MATRIX_TOKEN", "DONORBOT_STRIPE_SECRET"):
        assert variable in check.stderr
    env.update(
        DONORBOT_DISCORD_TOKEN="x" * 40, DONORBOT_MATRIX_TOKEN="syt_x", DONORBOT_STRIPE_SECRET="whsec_x"
    )
    check = _donorbot(tmp_path, "check-config", env=env)
    assert check.returncode == 0, check.stderr


def test_every_key_init_writes_is_documented_in_the_example(tmp_path: Path) -> None:
    result = _donorbot(
        tmp_path, "init", "--yes", "--platform", "console", "--platform", "matrix", "--platform", "discord",
        *[arg for hook in ("kofi", "github-sponsors", "stripe", "opencollective", "patreon", "donorbox",
                            "buymeacoffee", "helloasso") for arg in ("--webhook", hook)],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = _keys(tomllib.loads((tmp_path / "config.toml").read_text(encoding="utf-8")))
    documented = _keys(tomllib.loads((REPO / "config.example.toml").read_text(encoding="utf-8")))
    # The example documents commented-out keys too; the targets' keys are per platform.
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    missing = {
        key for key in written - documented if f"{key.rsplit('.', 1)[-1]} " not in text.replace("=", " ")
    }
    assert not missing, missing


class Terminal:
    """``donorbot init`` on a pseudo-terminal, answered prompt by prompt as a person would."""

    def __init__(self, folder: Path) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become donorbot
            os.chdir(folder)
            os.execvpe(sys.executable, [*DONORBOT, "init"], _clean_env(LANG="fr_FR.UTF-8", TZ="Europe/Paris"))
        self.seen = ""

    def expect(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"never saw {text!r}; the terminal shows:\n{self.seen}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"donorbot exited before {text!r}:\n{self.seen}")
                self.seen += chunk.decode("utf-8", "replace")
        before, _, after = self.seen.partition(text)
        self.seen = after
        return before

    def answer(self, prompt: str, text: str) -> None:
        self.expect(prompt)
        os.write(self.fd, text.encode() + b"\n")

    def wait(self) -> int:
        for _ in range(300):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if ready:
                    self.seen += os.read(self.fd, 4096).decode("utf-8", "replace")
            except OSError:  # the terminal is closed: only the exit status is left to come
                time.sleep(0.1)
        os.kill(self.pid, 9)
        raise AssertionError("donorbot init did not finish")


def test_interactive_init_asks_re_asks_on_a_bad_answer_and_writes_what_was_answered(tmp_path: Path) -> None:
    term = Terminal(tmp_path)
    term.answer("Community name", "Les Amis du Libre")
    term.expect("[fr]")  # the language of $LANG is the default
    term.answer(": ", "")
    term.expect("[Europe/Paris]")  # the machine's zone
    term.answer(": ", "Mars/Olympus")
    term.expect("not an IANA time zone")
    term.answer("Time zone", "Europe/Brussels")
    term.expect("[EUR]")  # the currency of fr_FR's territory
    term.answer(": ", "")
    term.answer("Donation link", "https://example.org/don")
    term.answer("console", "")
    term.answer("Matrix", "o")
    term.answer("Homeserver URL", "https://matrix.example.org")
    term.answer("user id", "")
    term.answer("room", "#nouvelles:example.org")
    term.answer("Discord", "n")
    term.answer("Webhooks", "kofi, paypal")
    term.expect("unknown: paypal")
    term.answer("Webhooks", "kofi")
    term.expect("Next steps")
    assert term.wait() == 0
    config = tomllib.loads((tmp_path / "config.toml").read_text(encoding="utf-8"))
    assert config["project"]["name"] == "Les Amis du Libre"
    assert config["project"]["locale"] == "fr"
    assert config["project"]["timezone"] == "Europe/Brussels"
    assert config["project"]["base_currency"] == "EUR"
    assert [t["platform"] for t in config["targets"]] == ["console", "matrix"]
    assert config["targets"][1]["room"] == "#nouvelles:example.org"
    assert list(config["webhooks"]) == ["enabled", "host", "port", "kofi"]
    assert "DONORBOT_KOFI_TOKEN=" in (tmp_path / "donorbot.env").read_text(encoding="utf-8")
