"""Everything donorbot writes with donors' data is 0600 in 0700 folders, whatever the umask: the
ledger and its -wal and -shm (while ``donorbot run`` holds them), backups, the Matrix store; looser
files left by a copy or a restore are fixed on open with a log line; check-config reports them."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

KEY_ENV, KEY = "DONORBOT_PSEUDONYM_KEY", "a-pseudonym-key-long-enough-for-tests"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def donorbot(config: Path, *args: str, umask: int = 0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        capture_output=True, text=True, env={**os.environ, KEY_ENV: KEY}, timeout=120, umask=umask,
    )  # fmt: skip


def project(folder: Path, ledger: str = "") -> Path:
    config = folder / "config.toml"
    config.write_text(
        '[project]\nname = "Donor Friends"\ntimezone = "Europe/Paris"\ndata_dir = "data"\n'
        f'{ledger}\n[webhooks]\nport = 0\n\n[[targets]]\nname = "console"\nplatform = "console"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    csv = folder / "gifts.csv"
    csv.write_text(
        "id,date,amount,currency,donor,name,public\n"
        "g1,2026-10-02T10:00:00Z,10.00,EUR,ann@example.org,Ann,true\n"
        "g2,2026-10-03T10:00:00Z,12.00,EUR,bob@example.org,,false\n",
        encoding="utf-8",
    )
    return config


def test_under_umask_000_the_ledger_its_wal_and_shm_backups_and_folders_are_private(tmp_path: Path) -> None:
    config = project(tmp_path)
    data = tmp_path / "data"
    assert not data.exists()
    done = donorbot(config, "import", "csv", str(tmp_path / "gifts.csv"))
    assert done.returncode == 0, done.stderr
    done = donorbot(config, "add", "--amount", "5", "--currency", "EUR", "--donor", "cy@example.org")
    assert done.returncode == 0, done.stderr
    done = donorbot(config, "backup", str(tmp_path / "backups" / "nested" / "ledger.sqlite3"))
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700
    assert mode(data / "donorbot.sqlite3") == 0o600
    assert mode(tmp_path / "backups") == 0o700 and mode(tmp_path / "backups" / "nested") == 0o700
    assert mode(tmp_path / "backups" / "nested" / "ledger.sqlite3") == 0o600

    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, KEY_ENV: KEY}, umask=0,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "donorbot running" in proc.stdout.readline()
        names = ("donorbot.sqlite3", "donorbot.sqlite3-wal", "donorbot.sqlite3-shm")
        side = {p.name: mode(p) for p in data.iterdir() if p.name in names}
        assert side == {
            "donorbot.sqlite3": 0o600,
            "donorbot.sqlite3-wal": 0o600,
            "donorbot.sqlite3-shm": 0o600,
        }
        # Whatever else run wrote in the data folder (the console's charts...) is private too.
        for path in data.rglob("*"):
            assert mode(path) & 0o077 == 0, (path, oct(mode(path)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_files_a_copy_left_readable_are_made_private_on_open_with_a_log_line(tmp_path: Path) -> None:
    config = project(tmp_path)
    assert donorbot(config, "import", "csv", str(tmp_path / "gifts.csv"), umask=0o077).returncode == 0
    data, ledger = tmp_path / "data", tmp_path / "data" / "donorbot.sqlite3"
    data.chmod(0o755)
    ledger.chmod(0o644)
    done = donorbot(config, "stats", "--json")
    assert done.returncode == 0, done.stderr
    assert f"{data}: permissions were 0755, now 0700" in done.stderr
    assert f"{ledger}: permissions were 0644, now 0600" in done.stderr
    assert mode(data) == 0o700 and mode(ledger) == 0o600
    again = donorbot(config, "stats", "--json")
    assert "permissions were" not in again.stderr  # said once, when it was fixed


def test_check_config_reports_the_ledger_and_its_folder_wherever_they_live(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    config = project(tmp_path, f'\n[ledger]\npath = "{elsewhere / "ledger.sqlite3"}"\n')
    assert donorbot(config, "import", "csv", str(tmp_path / "gifts.csv"), umask=0o077).returncode == 0
    quiet = donorbot(config, "check-config")
    assert quiet.returncode == 0 and "readable by other users" not in quiet.stderr, quiet.stderr
    elsewhere.chmod(0o755)
    (elsewhere / "ledger.sqlite3").chmod(0o644)
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data").chmod(0o750)
    loud = donorbot(config, "check-config")
    assert loud.returncode == 0, loud.stderr
    assert f"{elsewhere / 'ledger.sqlite3'}: the ledger is readable by other users (mode 0644" in loud.stderr
    assert f"{elsewhere}: the ledger's folder is readable by other users (mode 0755" in loud.stderr
    assert f"{tmp_path / 'data'}: the data folder is readable by other users (mode 0750" in loud.stderr
    # The next command that opens the ledger makes its file private (check-config's trial render may).
    assert donorbot(config, "stats").returncode == 0
    assert mode(elsewhere / "ledger.sqlite3") == 0o600


def test_the_matrix_store_is_made_private_when_the_client_is_built(tmp_path: Path) -> None:
    from bot.chat.matrix.store import _client
    from bot.config import parse_config

    config = parse_config(
        '[project]\nname = "P"\ndata_dir = "data"\n\n[matrix]\nhomeserver = "http://127.0.0.1:9"\n'
        'user_id = "@bot:localhost"\naccess_token_env = "T_MATRIX"\n',
        tmp_path / "config.toml",
    )
    crypto = tmp_path / "data" / "matrix" / "crypto"
    crypto.mkdir(parents=True)
    (crypto / "bot_DEVICE.db").write_bytes(b"olm account")
    (tmp_path / "data" / "matrix" / "session.json").write_text("{}", encoding="utf-8")
    for path, loose in (
        (tmp_path / "data" / "matrix", 0o755),
        (crypto, 0o755),
        (crypto / "bot_DEVICE.db", 0o644),
    ):
        path.chmod(loose)
    assert config.matrix is not None
    _client(config, config.matrix)
    assert mode(tmp_path / "data" / "matrix") == 0o700 and mode(crypto) == 0o700
    assert mode(crypto / "bot_DEVICE.db") == 0o600
    assert mode(tmp_path / "data" / "matrix" / "session.json") & 0o077 == 0
