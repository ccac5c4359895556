"""A throwaway Synapse for tests: its configuration, its process, and the admin calls tests need.

Everything listens on 127.0.0.1 only: one client listener, no federation, no TLS,
no stats reporting, SQLite, rate limits relaxed so tests never wait on them.
Users are registered with the shared secret (``/_synapse/admin/v1/register``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SERVER_NAME",
    "Homeserver",
    "SynapseMissing",
    "User",
    "download",
    "free_port",
    "synapse_python",
    "write_config",
]

SERVER_NAME = "donorbot.test"
REPO = Path(__file__).resolve().parents[2]
INSTALL = "tests/synapse/install.sh"

# Generous enough that no test ever meets a limit it did not ask for.
_RELAXED = {"per_second": 10000, "burst_count": 100000}


class SynapseMissing(RuntimeError):
    """No Synapse where the tests look for it."""


def synapse_python() -> Path:
    """The Synapse virtualenv's interpreter; raises SynapseMissing telling how to install it."""
    venv = Path(os.environ.get("DONORBOT_SYNAPSE_VENV") or REPO / ".synapse-venv")
    python = venv / "bin" / "python"
    if not python.exists():
        raise SynapseMissing(
            f"Synapse is not installed in {venv}: run {INSTALL} first "
            "(or set DONORBOT_SYNAPSE_VENV to a virtualenv where matrix-synapse is installed)"
        )
    found = subprocess.run(
        [str(python), "-c", "import synapse.app.homeserver"], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        raise SynapseMissing(f"{venv} has no working Synapse ({found.stderr.strip()[-300:]}): run {INSTALL}")
    return python


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(folder: Path, port: int, shared_secret: str) -> Path:
    """Write homeserver.yaml (JSON is YAML) and its log config into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    log_config = folder / "log.yaml"
    log_config.write_text(
        json.dumps(
            {
                "version": 1,
                "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
                "handlers": {
                    "file": {
                        "class": "logging.FileHandler",
                        "formatter": "plain",
                        "filename": str(folder / "homeserver.log"),
                    }
                },
                "root": {"level": "INFO", "handlers": ["file"]},
                "disable_existing_loggers": False,
            }
        ),
        encoding="utf-8",
    )
    config: dict[str, Any] = {
        "server_name": SERVER_NAME,
        "pid_file": str(folder / "homeserver.pid"),
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(folder / "homeserver.db")}},
        "log_config": str(log_config),
        "media_store_path": str(folder / "media"),
        "signing_key_path": str(folder / "signing.key"),
        "registration_shared_secret": shared_secret,
        "enable_registration": False,
        # Every test registers four users: the cheapest hashing Synapse allows (its own tests' choice).
        "bcrypt_rounds": 4,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "report_stats": False,
        "enable_metrics": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "url_preview_enabled": False,
        "presence": {"enabled": False},
        "rc_message": _RELAXED,
        "rc_registration": _RELAXED,
        "rc_login": {"address": _RELAXED, "account": _RELAXED, "failed_attempts": _RELAXED},
        "rc_joins": {"local": _RELAXED, "remote": _RELAXED},
        "rc_joins_per_room": _RELAXED,
        "rc_invites": {"per_room": _RELAXED, "per_user": _RELAXED, "per_issuer": _RELAXED},
        "rc_key_requests": _RELAXED,
        "rc_media_create": _RELAXED,
        "rc_room_creation": _RELAXED,
        "rc_admin_redaction": _RELAXED,
        "rc_3pid_validation": _RELAXED,
        "rc_profile": _RELAXED,
    }
    path = folder / "homeserver.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


@dataclass(frozen=True)
class User:
    user_id: str
    password: str
    access_token: str
    device_id: str


@dataclass
class Homeserver:
    """A Synapse process started from a generated configuration."""

    folder: Path
    python: Path
    port: int = field(default_factory=free_port)
    shared_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "homeserver.log"

    def start(self, timeout: float = 120.0) -> None:
        """Generate keys, start the homeserver, and wait until it answers /_matrix/client/versions."""
        config = write_config(self.folder, self.port, self.shared_secret)
        base = [str(self.python), "-m", "synapse.app.homeserver", "--config-path", str(config)]
        generated = subprocess.run(
            [*base, "--generate-keys"], capture_output=True, text=True, cwd=self.folder, check=False
        )
        if generated.returncode != 0:
            raise RuntimeError(f"synapse --generate-keys failed:\n{generated.stderr[-3000:]}")
        stderr = (self.folder / "stderr.log").open("wb")
        self.process = subprocess.Popen(
            base, cwd=self.folder, stdout=stderr, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Synapse exited with code {self.process.returncode}:\n{self._tail()}")
            try:
                self.request("GET", "/_matrix/client/versions", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                # Nothing to await on a process we only reach through its port: poll briefly.
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Synapse did not answer within {timeout:.0f} s:\n{self._tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def _tail(self) -> str:
        texts = []
        for name in ("stderr.log", "homeserver.log"):
            path = self.folder / name
            if path.exists():
                texts.append(path.read_text(encoding="utf-8", errors="replace")[-4000:])
        return "\n".join(texts)

    # --- HTTP ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """One client-server API call; raises urllib.error.HTTPError on an error status."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer: dict[str, Any] = json.loads(resp.read() or b"{}")
            return answer

    def register(self, localpart: str, *, admin: bool = False, password: str | None = None) -> User:
        """Register a user with the shared secret (the admin API's HMAC registration)."""
        password = password or secrets.token_urlsafe(12)
        nonce = self.request("GET", "/_synapse/admin/v1/register")["nonce"]
        # The MAC covers the four fields joined by NUL bytes.
        fields = (nonce, localpart, password, "admin" if admin else "notadmin")
        signed = hmac.new(
            self.shared_secret.encode(), b"\x00".join(f.encode() for f in fields), hashlib.sha1
        ).hexdigest()
        answer = self.request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": signed,
            },
        )
        return User(answer["user_id"], password, answer["access_token"], answer["device_id"])

    def override_ratelimit(self, admin: User, user_id: str, per_second: int, burst_count: int) -> None:
        """Give one user a message rate limit of its own (Synapse's admin API)."""
        self.request(
            "POST",
            f"/_synapse/admin/v1/users/{urllib.request.quote(user_id)}/override_ratelimit",
            {"messages_per_second": per_second, "burst_count": burst_count},
            token=admin.access_token,
        )


def download(server: Homeserver, mxc: str, token: str) -> bytes:
    """The bytes behind an ``mxc://`` URI (authenticated media API)."""
    assert mxc.startswith("mxc://"), mxc
    origin, media_id = mxc.removeprefix("mxc://").split("/", 1)
    req = urllib.request.Request(f"{server.url}/_matrix/client/v1/media/download/{origin}/{media_id}")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        data: bytes = resp.read()
        return data
