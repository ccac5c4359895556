"""Logging in to the homeserver, with what must survive a restart kept in the data directory.

``data_dir/matrix/`` holds ``session.json`` (user id, device id and access token
of a password login, mode 0600) and ``crypto/`` (matrix-nio's SQLite store: the
device's Olm account and Megolm sessions). Reusing them means a restart neither
creates a new device in the account nor loses the keys of encrypted rooms.

With ``matrix.access_token_env`` the token comes from the environment and the
device is the one the homeserver reports for it (``whoami``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig, LoginResponse, WhoamiResponse
from nio.crypto import ENCRYPTION_ENABLED
from nio.store import SqliteStore

from bot.config import Config, ConfigError, MatrixSettings
from bot.files import private_dir, private_tree

__all__ = ["IdentityInUse", "LoginFailed", "Session", "connect", "matrix_dir"]

log = logging.getLogger(__name__)

SESSION_FILE = "session.json"


class LoginFailed(Exception):
    """The homeserver refused the credentials (or could not be reached)."""


@dataclass(frozen=True)
class Session:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str

    def __repr__(self) -> str:  # the token never reaches a log line
        return f"Session({self.homeserver!r}, {self.user_id!r}, device {self.device_id!r})"


def matrix_dir(config: Config) -> Path:
    return config.data_dir / "matrix"


def _settings(config: Config) -> MatrixSettings:
    if config.matrix is None:
        raise ConfigError(["matrix: the [matrix] section is missing"])
    return config.matrix


def encryption_available(settings: MatrixSettings) -> bool:
    """Whether this process can read and write encrypted rooms."""
    return settings.encryption and ENCRYPTION_ENABLED


class IdentityInUse(Exception):
    """Another process has this Matrix identity's crypto store open (``donorbot run``, usually)."""


class _Client(AsyncClient):  # type: ignore[misc]  # nio ships no type hints for it
    """An AsyncClient that holds its crypto store's lock until it is closed."""

    identity_lock: int | None = None

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self.identity_lock is not None:
                os.close(self.identity_lock)  # closing the descriptor releases the lock
                self.identity_lock = None


def _lock_identity(folder: Path) -> int:
    """Take the crypto store's lock (exclusive, never waiting); the descriptor that holds it.

    Two Olm machines on one store (a ``post`` beside ``run``) would each ratchet the
    same Megolm session and make the other's messages undecryptable, so only one
    process at a time may hold the identity; the other leaves its deliveries owed,
    and the process holding it sends them.
    """
    path = folder / "crypto.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise IdentityInUse(
            f"the Matrix identity in {folder} is in use by another donorbot process (pid {holder}, "
            "usually donorbot run): it sends what is owed; a second end-to-end session beside it "
            "would make its messages undecryptable"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _client(config: Config, settings: MatrixSettings) -> AsyncClient:
    folder = matrix_dir(config)
    store = folder / "crypto"
    private_dir(store)
    # The crypto store holds the device's keys and room history keys; the session file a token.
    for change in private_tree(folder):
        log.warning("matrix store: %s", change)
    options = AsyncClientConfig(
        # Delivery decides about retries (and honours Retry-After); nio must not sleep on its own.
        max_limit_exceeded=0,
        max_timeouts=0,
        request_timeout=60,
        encryption_enabled=encryption_available(settings),
        store=SqliteStore,
        store_sync_tokens=False,
    )
    client = _Client(settings.homeserver, settings.user_id, store_path=str(store), config=options)
    if options.encryption_enabled:
        client.identity_lock = _lock_identity(folder)
    return client


def _read_session(path: Path, settings: MatrixSettings) -> Session | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        session = Session(data["homeserver"], data["user_id"], data["device_id"], data["access_token"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None
    if session.homeserver != settings.homeserver or session.user_id != settings.user_id:
        log.info("%s is for another account; logging in afresh", path)
        return None
    return session


def _write_session(path: Path, session: Session) -> None:
    text = json.dumps(
        {
            "homeserver": session.homeserver,
            "user_id": session.user_id,
            "device_id": session.device_id,
            "access_token": session.access_token,
        }
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


async def _whoami(client: AsyncClient, token: str) -> WhoamiResponse | None:
    client.access_token = token
    answer = await client.whoami()
    return answer if isinstance(answer, WhoamiResponse) else None


async def connect(config: Config) -> AsyncClient:
    """A logged-in client with its crypto store loaded (when encryption is available).

    Raises:
        ConfigError: the secret's environment variable is not set.
        LoginFailed: the homeserver refused the token or the password.
    """
    settings = _settings(config)
    if settings.encryption and not ENCRYPTION_ENABLED:
        log.warning(
            "Matrix: end-to-end encryption is unavailable (matrix-nio's e2e extra is not installed: "
            "pip install 'matrix-nio[e2e]'); encrypted rooms will be skipped"
        )
    client = _client(config, settings)
    try:
        await _login(client, config, settings)
        if client.olm is not None and client.should_upload_keys:
            await client.keys_upload()
    except BaseException:
        await client.close()
        raise
    return client


async def _login(client: AsyncClient, config: Config, settings: MatrixSettings) -> None:
    if settings.access_token_env:
        token = config.secret(settings.access_token_env)
        if token is None:
            raise ConfigError(
                [f"matrix.access_token_env: environment variable {settings.access_token_env} is not set"]
            )
        who = await _whoami(client, token.get_secret_value())
        if who is None or not who.device_id:
            raise LoginFailed(f"{settings.homeserver} refused the access token of {settings.user_id}")
        if who.user_id != settings.user_id:
            raise LoginFailed(f"the access token is {who.user_id}'s, not matrix.user_id {settings.user_id}")
        client.restore_login(settings.user_id, who.device_id, token.get_secret_value())
        log.info("Matrix: %s, device %s (access token)", settings.user_id, who.device_id)
        return

    password = config.secret(settings.password_env)
    if password is None:
        raise ConfigError([f"matrix.password_env: environment variable {settings.password_env} is not set"])
    path = matrix_dir(config) / SESSION_FILE
    saved = _read_session(path, settings)
    if saved is not None:
        who = await _whoami(client, saved.access_token)
        if who is not None and who.device_id == saved.device_id:
            client.restore_login(saved.user_id, saved.device_id, saved.access_token)
            log.info("Matrix: %s, device %s (saved session)", saved.user_id, saved.device_id)
            return
        log.info("Matrix: the saved session has expired; logging in again as device %s", saved.device_id)
        client.access_token = ""
    # Logging in with the saved device id keeps the device (and its keys) instead of making a new one.
    client.device_id = saved.device_id if saved else ""
    answer = await client.login(password.get_secret_value(), device_name=settings.device_name)
    if not isinstance(answer, LoginResponse):
        raise LoginFailed(
            f"{settings.homeserver} refused the password of {settings.user_id}: {answer.message}"
        )
    _write_session(path, Session(settings.homeserver, answer.user_id, answer.device_id, answer.access_token))
    log.info("Matrix: %s, device %s (password login, saved)", answer.user_id, answer.device_id)
