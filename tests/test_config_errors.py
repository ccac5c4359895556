"""Every configuration error is one line naming the file, the line and the key, exit code 2;
the file is found at --config, else $DONORBOT_CONFIG, else ./config.toml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE = '[project]\nname = "Donor Friends"\n'


def check_config(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DONORBOT_CONFIG"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "check-config"],
        cwd=cwd, capture_output=True, text=True, check=False, env=environment, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "line", "key", "problem"),
    [
        (BASE + "nmae = 'typo'\n", 3, "project.nmae", "unknown key"),
        (BASE + 'timezone = "Europe/Pariss"\n', 3, "project.timezone", "time zone"),
        (BASE + 'locale = "xx_YY_ZZ"\n', 3, "project.locale", "locale"),
        (BASE + 'base_currency = "EUX"\n', 3, "project.base_currency", "currency"),
        (BASE + '[schedule]\ncron = "61 * * * *"\n', 4, "schedule.cron", "cron"),
        (BASE + '[schedule]\ncron = "0 10 * * 8"\n', 4, "schedule.cron", "day of week: 8 is outside 0-7"),
        (BASE + '[schedule]\ncron = "5/15 * * * *"\n', 4, "schedule.cron", "a step needs a range"),
        (
            BASE + '[[targets]]\nname = "x"\nplatform = "console"\ncron = "0 10 * *"\n',
            6, "targets[0].cron", "4 fields where crontab has five",
        ),
        (BASE + "[schedule]\ncatch_up_days = 'seven'\n", 4, "schedule.catch_up_days", "integer"),
        ("[project]\ntimezone = 'UTC'\n", 1, "project.name", "required"),
        (
            BASE + '[[targets]]\nname = "a"\nplatform = "console"\n[[targets]]\nname = "a"\nplatform = "console"\n',
            7, "targets[1].name", "two targets are named 'a'",
        ),
        (BASE + '[[targets]]\nname = "x"\nplatform = "telegram"\n', 3, "targets", "platform"),
        (BASE + '[[targets]]\nname = "x"\nplatform = "discord"\nchannel_id = 1\n', 5, "targets[0].platform", "[discord] is missing"),
        (BASE + '[[goals]]\nname = "g"\ntitle = "G"\nstart = 2026-02-01\nend = 2026-01-01\namount = 5\n', 7, "goals[0].end", "before start"),
        (BASE + '[[goals]]\nname = "g"\ntitle = "G"\nstart = 2026-02-01\nend = 2026-03-01\n', 3, "goals[0]", "needs amount, donors"),
        (BASE + 'rates = { EUR = 1 }\n', 3, "project.rates.EUR", "base currency"),
        (BASE + 'rates = { USD = -1 }\n', 3, "project.rates.USD", "greater than 0"),
        (BASE + 'donate_urls = [\n  "https://ok.example",\n  "javascript:alert(1)",\n]\n', 3, "project.donate_urls[1]", "http(s) URL"),
        (BASE + '[milestones]\nmonthly_donors = [100, -5]\n', 4, "milestones.monthly_donors[1]", "greater than 0"),
        (BASE + "[ledger]\npseudonym_key_env = 'not a name'\n", 4, "ledger.pseudonym_key_env", "environment variable"),
        (BASE + '[ledger]\npath = ""\n', 4, "ledger.path", "not a file name"),
    ],
)  # fmt: skip
def test_each_problem_is_one_line_with_file_line_and_key(
    tmp_path: Path, text: str, line: int | None, key: str, problem: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    done = check_config(tmp_path, "--config", str(config))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [entry for entry in done.stderr.splitlines() if not entry.startswith("warning:")]
    assert lines, done.stderr
    where = f"{config}:{line}: " if line else f"{config}:"
    matching = [entry for entry in lines if entry.startswith(where) and key in entry]
    assert matching, f"expected {where}...{key}... in {lines}"
    assert problem.lower() in matching[0].lower(), matching[0]
    assert "Traceback" not in done.stderr


def test_a_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(BASE + "oops = \n", encoding="utf-8")
    done = check_config(tmp_path, "--config", str(config))
    assert done.returncode == 2 and f"{config}:3" in done.stderr, done.stderr


def test_the_file_is_found_at_config_then_env_then_the_working_directory(tmp_path: Path) -> None:
    for name in ("flag", "env", "cwd"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.toml").write_text(
            f'[project]\nname = "{name}"\nnmae = 1\n', encoding="utf-8"
        )
    flag, env = (tmp_path / n / "config.toml" for n in ("flag", "env"))
    both = check_config(tmp_path / "cwd", "--config", str(flag), env={"DONORBOT_CONFIG": str(env)})
    assert str(flag) in both.stderr and str(env) not in both.stderr
    from_env = check_config(tmp_path / "cwd", env={"DONORBOT_CONFIG": str(env)})
    assert str(env) in from_env.stderr
    from_cwd = check_config(tmp_path / "cwd")
    assert "config.toml" in from_cwd.stderr and "nmae" in from_cwd.stderr
    missing = check_config(tmp_path)
    assert missing.returncode == 2 and "config.toml" in missing.stderr
