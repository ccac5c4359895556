"""pytest fixtures: a real Synapse for the session, users, people, and config files for the bot.

Test modules load them with ``pytest_plugins = ["tests.synapse.fixtures"]``. When
Synapse is not installed the tests fail (never skip), saying how to install it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.demo import DEMO_KEY, demo_donations
from bot.months import Month
from tests.synapse.homeserver import Homeserver, SynapseMissing, User, synapse_python
from tests.synapse.people import Person

__all__ = [
    "DEMO_END",
    "KEY_ENV",
    "TOKEN_ENV",
    "MatrixWorld",
    "demo_ledger",
    "matrix_world",
    "people",
    "synapse",
    "write_config",
]

TOKEN_ENV = "DONORBOT_TEST_MATRIX_TOKEN"
PASSWORD_ENV = "DONORBOT_TEST_MATRIX_PASSWORD"
KEY_ENV = "DONORBOT_TEST_PSEUDONYM_KEY"
DEMO_END = Month(2025, 12)
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    """A Synapse on 127.0.0.1 for the whole run (SQLite, shared-secret registration, no federation)."""
    try:
        python = synapse_python()
    except SynapseMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    server = Homeserver(tmp_path_factory.mktemp("synapse"), python)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class MatrixWorld:
    """Fresh accounts for one test: the bot, its admin, a member, and a stranger."""

    server: Homeserver
    bot: User
    admin: User
    member: User
    stranger: User


@pytest.fixture
def matrix_world(synapse: Homeserver) -> MatrixWorld:
    n = next(_numbers)
    return MatrixWorld(
        synapse,
        bot=synapse.register(f"donorbot{n}"),
        admin=synapse.register(f"alice{n}"),
        member=synapse.register(f"bob{n}"),
        stranger=synapse.register(f"mallory{n}"),
    )


People = Callable[[User], Awaitable[Person]]


@pytest.fixture
async def people(synapse: Homeserver, tmp_path: Path) -> AsyncIterator[People]:
    """Start people's clients (each with a device and crypto store); closed after the test."""
    started: list[Person] = []

    async def person(user: User) -> Person:
        someone = Person(synapse, user, tmp_path / "people" / user.user_id.strip("@").split(":")[0])
        started.append(someone)
        await someone.start()
        return someone

    yield person
    for someone in started:
        await someone.close()


def write_config(
    path: Path,
    world: MatrixWorld,
    rooms: dict[str, str],
    *,
    login: str = "token",
    locales: dict[str, str] | None = None,
    matrix_extra: str = "",
    extra: str = "",
) -> Config:
    """A real config file: ``rooms`` maps target names to room ids or aliases."""
    secret_key = "access_token_env" if login == "token" else "password_env"
    secret_env = TOKEN_ENV if login == "token" else PASSWORD_ENV
    lines = [
        "[project]",
        'name = "Donor Friends"',
        'timezone = "Europe/Paris"',
        'locale = "en"',
        'base_currency = "EUR"',
        'donate_urls = ["https://example.org/donate"]',
        f'data_dir = "{path.parent / "data"}"',
        "",
        "[ledger]",
        f'pseudonym_key_env = "{KEY_ENV}"',
        "",
        "[matrix]",
        f'homeserver = "{world.server.url}"',
        f'user_id = "{world.bot.user_id}"',
        f'{secret_key} = "{secret_env}"',
        matrix_extra,
    ]
    for name, room in rooms.items():
        lines += ["", "[[targets]]", f'name = "{name}"', 'platform = "matrix"', f'room = "{room}"']
        if locales and name in locales:
            lines.append(f'locale = "{locales[name]}"')
    lines += ["", extra]
    path.write_text("\n".join(lines), encoding="utf-8")
    os.environ[TOKEN_ENV] = world.bot.access_token
    os.environ[PASSWORD_ENV] = world.bot.password
    os.environ[KEY_ENV] = DEMO_KEY
    return load_config(path)


@pytest.fixture(scope="session")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger holding the demo's months up to December 2025, built once per run."""
    from bot.core import Core

    folder = tmp_path_factory.mktemp("matrix-demo-ledger")
    (folder / "config.toml").write_text(
        f'[project]\nname = "Donor Friends"\ntimezone = "Europe/Paris"\ndata_dir = "{folder}"\n'
        f'[ledger]\npseudonym_key_env = "{KEY_ENV}"\n',
        encoding="utf-8",
    )
    os.environ[KEY_ENV] = DEMO_KEY

    async def build() -> Path:
        config = load_config(folder / "config.toml")
        core = await Core.open(config)
        try:
            await core.ledger.write(demo_donations(DEMO_END))
        finally:
            await core.close()
        return config.ledger_path

    return asyncio.run(build())


@pytest.fixture(scope="session")
def crowd_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger where every named donor left a long message (bulletins over 100 KB)."""
    from tests.crowd_support import build_crowd_ledger

    return build_crowd_ledger(tmp_path_factory.mktemp("matrix-crowd-ledger"), DEMO_END, KEY_ENV)
