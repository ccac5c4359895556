"""deploy/: the systemd unit and the container definition, checked as far as this machine allows.

No container engine runs here, so the image's own instructions are checked as text and its
entry command is run as a plain process, with the image's healthcheck asked against it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is missing (Debian's package systemd); .ci/run installs it"
    return found


def _unit_here(tmp_path: Path) -> Path:
    """The unit, with its donorbot path pointing at this checkout's (verify checks it exists)."""
    text = (DEPLOY / "donorbot.service").read_text(encoding="utf-8")
    unit = tmp_path / "donorbot.service"
    unit.write_text(text.replace("/opt/donorbot/bin/donorbot", str(BIN / "donorbot")), encoding="utf-8")
    return unit


def test_the_systemd_unit_verifies_without_a_single_warning(tmp_path: Path) -> None:
    result = subprocess.run(
        [_systemd_analyze(), "verify", str(_unit_here(tmp_path))], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def test_the_systemd_unit_is_hardened(tmp_path: Path) -> None:
    result = subprocess.run(
        [_systemd_analyze(), "security", "--offline=true", str(_unit_here(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout + result.stderr)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0, result.stdout  # systemd rates up to 2.0 "OK"
    text = (DEPLOY / "donorbot.service").read_text(encoding="utf-8")
    for setting in (
        "User=donorbot",
        "StateDirectory=donorbot",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "EnvironmentFile=/etc/donorbot/donorbot.env",
        "UMask=0077",
    ):
        assert setting in text.splitlines(), setting


def _instructions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.setdefault(word.upper(), []).append(rest.strip())
    return found


def test_the_image_is_multi_stage_non_root_with_its_data_as_a_volume() -> None:
    found = _instructions()
    assert len(found["FROM"]) >= 2
    assert found["USER"][-1] not in ("root", "0")
    assert json.loads(found["VOLUME"][-1]) == ["/data"]
    assert "DONORBOT_CONFIG=/data/config.toml" in " ".join(found["ENV"])
    assert "COPY --from=build /opt/donorbot /opt/donorbot" in [f"COPY {c}" for c in found["COPY"]]
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    assert "./data:/data" in compose and "env_file: ./data/donorbot.env" in compose
    assert '"127.0.0.1:8080:8080"' in compose  # published on loopback only, for a reverse proxy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_images_entry_command_runs_as_a_plain_process_and_its_healthcheck_sees_it(tmp_path: Path) -> None:
    found = _instructions()
    entry = json.loads(found["ENTRYPOINT"][-1]) + json.loads(found["CMD"][-1])
    health = json.loads(re.sub(r"^(--\S+\s+)*CMD\s+", "", found["HEALTHCHECK"][-1]))
    assert entry[0] == "donorbot" and health[0] == "donorbot"
    data = tmp_path / "data"  # the volume
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONORBOT_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    made = subprocess.run(
        ["donorbot", "init", "--yes", "--dir", str(data)], env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    port = _free_port()
    config = data / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("port = 8080", f"port = {port}"), "utf-8")
    for line in (data / "donorbot.env").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    env["DONORBOT_CONFIG"] = str(config)

    def healthcheck() -> subprocess.CompletedProcess[str]:
        return subprocess.run(health, cwd=data, env=env, capture_output=True, text=True, timeout=60)

    before = healthcheck()
    assert before.returncode == 1 and "no answer" in before.stderr
    service = subprocess.Popen(
        entry, cwd=data, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while (result := healthcheck()).returncode != 0:
            assert service.poll() is None, service.communicate()[1]
            assert time.monotonic() < deadline, result.stderr
            time.sleep(0.3)
        assert f"127.0.0.1:{port}/healthz: ok" in result.stdout
        service.send_signal(signal.SIGTERM)  # the image's STOPSIGNAL
        assert service.wait(timeout=30) == 0
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
