"""What a person reads from the command line: local times, no repeated output, nothing overwritten."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KEY = "cli-polish-test-key-0123456789abcdef"


def _project(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        '[project]\nname = "Petit Projet"\ntimezone = "Europe/Paris"\ndata_dir = "data"\n\n'
        '[logging]\nlevel = "INFO"\n\n[webhooks]\nenabled = false\n\n'
        '[[targets]]\nname = "terminal"\nplatform = "console"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def _donorbot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONORBOT_")}
    env["DONORBOT_PSEUDONYM_KEY"] = KEY
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_status_speaks_the_projects_wall_clock(tmp_path: Path) -> None:
    config = _project(tmp_path)
    added = _donorbot(config, "add", "--amount", "10", "--currency", "EUR", "--date", "2026-07-14")
    assert added.returncode == 0, added.stderr
    status = _donorbot(config, "status")
    assert status.returncode == 0, status.stderr
    # A bare date is noon in Paris: 12:00 CEST, never 10:00+00:00.
    assert "last 2026-07-14 12:00 CEST" in status.stdout, status.stdout
    assert "+00:00" not in status.stdout and "T10:00" not in status.stdout


def test_post_prints_the_bulletin_once_and_logs_only_what_went_wrong(tmp_path: Path) -> None:
    config = _project(tmp_path)
    assert (
        _donorbot(config, "add", "--amount", "10", "--currency", "EUR", "--date", "2026-07-14").returncode
        == 0
    )
    post = _donorbot(config, "post", "--month", "2026-07")
    assert post.returncode == 0, post.stderr
    assert post.stdout.count("Petit Projet") >= 1
    assert " INFO " not in post.stderr, post.stderr


def test_backup_never_replaces_a_file_without_force(tmp_path: Path) -> None:
    config = _project(tmp_path)
    assert (
        _donorbot(config, "add", "--amount", "10", "--currency", "EUR", "--date", "2026-07-14").returncode
        == 0
    )
    target = tmp_path / "backup.sqlite3"
    target.write_bytes(b"precious")
    refused = _donorbot(config, "backup", str(target))
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert target.read_bytes() == b"precious"
    forced = _donorbot(config, "backup", "--force", str(target))
    assert forced.returncode == 0, forced.stderr
    assert target.read_bytes().startswith(b"SQLite format 3")
