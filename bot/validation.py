"""The one verdict on a configuration, shared by ``check-config`` and every other command.

``validate(config, command)`` runs the checks that ``command`` depends on and returns
its errors (the command refuses to start, exit 2) and warnings (it starts and says
so). ``check-config`` asks for the verdict of ``run``, the command that uses
everything, so what ``check-config`` accepts ``run`` starts with, and what it refuses
``run`` refuses with the same words. Each check is one function below, listed in
:data:`CHECKS` with the commands it applies to; adding a check means adding one line
there. Messages never hold a secret's value, only the name of the variable holding it.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Config, ConfigError
from bot.files import SQLITE_SIDE_FILES

__all__ = ["CHECKER", "KEY_MIN_BYTES", "Verdict", "pseudonym_key", "validate"]

KEY_MIN_BYTES = 16
CHECKER = "check-config"  # validates for the command that uses everything
SERVICE = "run"


@dataclass
class Verdict:
    """What validation found: ``errors`` stop the command; ``warnings`` are said and it goes on."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: Verdict) -> None:
        self.errors += other.errors
        self.warnings += other.warnings


class _Located:
    """``FILE:LINE: key: problem`` for a key of the configuration file."""

    def __init__(self, config: Config) -> None:
        self.file = config.source
        try:
            self.text = config.source.read_text(encoding="utf-8")
        except OSError:
            self.text = ""

    def __call__(self, key: str, problem: str) -> str:
        from bot.config import _locate

        parts: list[str | int] = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", key)]
        line = _locate(self.text, tuple(parts)) if self.text else None
        where = f"{self.file}:{line}" if line else str(self.file)
        return f"{where}: {key}: {problem}"


# --- the checks -----------------------------------------------------------------------------


def pseudonym_key(config: Config) -> bytes | None:
    """The pseudonym key from the environment (None when unset); ConfigError when too short."""
    secret = config.secret(config.ledger.pseudonym_key_env)
    key = secret.get_secret_value().encode() if secret else None
    if key is not None and len(key) < KEY_MIN_BYTES:
        raise ConfigError([_Located(config)("ledger.pseudonym_key_env", _short_key(config, len(key)))])
    return key


def _short_key(config: Config, length: int) -> str:
    return (
        f"the key in {config.ledger.pseudonym_key_env} is {length} bytes long; it must be at least"
        f" {KEY_MIN_BYTES} (e.g. `openssl rand -hex 32`)"
    )


def _key_length(config: Config, command: str) -> Verdict:
    secret = config.secret(config.ledger.pseudonym_key_env)
    if secret is not None and len(secret.get_secret_value().encode()) < KEY_MIN_BYTES:
        length = len(secret.get_secret_value().encode())
        return Verdict(errors=[_Located(config)("ledger.pseudonym_key_env", _short_key(config, length))])
    return Verdict()


def _key_set(config: Config, command: str) -> Verdict:
    problem = config._secret_problem(("ledger", "pseudonym_key_env"), config.ledger.pseudonym_key_env)
    return Verdict(errors=[problem] if problem else [])


def _service_secrets(config: Config, command: str) -> Verdict:
    """What ``run`` cannot do without (the pseudonym key, tokens of platforms and sources in use)."""
    return Verdict(errors=config.missing_secrets())


def _webhook_secrets(config: Config, command: str) -> Verdict:
    """A configured webhook whose secret is unset: its route stays off (the others still serve)."""
    return Verdict(warnings=config.secret_warnings())


def _locales(config: Config, command: str) -> Verdict:
    """A locale whose texts come from another region's catalogue (fr_CA -> fr): said, not refused."""
    return Verdict(warnings=config.locale_notes())


def _templates(config: Config, command: str) -> Verdict:
    """Every template compiles and every message renders (a typo must not wait for the 1st).

    ``run`` makes the same trial at its start, on the ledger it has opened (bot.app).
    """
    import asyncio

    from bot.news.render import Renderer, RenderError
    from bot.trial import trial_render

    try:
        problems = Renderer(config).check()
        if not problems:
            problems = asyncio.run(trial_render(config))
    except RenderError as exc:
        problems = [str(exc)]
    return Verdict(errors=[f"{config.source}: news.templates_dir: {problem}" for problem in problems])


def _others_can(path: Path, mask: int) -> int | None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & mask else None


def _permissions(config: Config, command: str) -> Verdict:
    """Files that hold donors' data or guard secrets are the owner's alone."""
    verdict = Verdict()
    checked = [
        (config.source, "the configuration file", stat.S_IROTH | stat.S_IWOTH, "chmod o-rwx", ""),
        (
            config.data_dir,
            "the data folder",
            0o077,
            "chmod 700",
            " (donorbot makes it 0700 when it opens it)",
        ),
    ]
    ledger = config.ledger_path
    fixed = " (donorbot makes it 0600 when it opens the ledger)"
    for path in (ledger, *(ledger.with_name(ledger.name + s) for s in SQLITE_SIDE_FILES)):
        checked.append((path, "the ledger", 0o077, "chmod 600", fixed))
    if ledger.parent.resolve() != config.data_dir.resolve():
        checked.append((ledger.parent, "the ledger's folder", 0o077, "chmod 700", ""))
    for path, what, mask, fix, note in checked:
        mode = _others_can(path, mask)
        if mode is not None:
            verdict.warnings.append(
                f"{path}: {what} is readable by other users (mode {mode:04o}; {fix} {path}){note}"
            )
    return verdict


Check = Callable[[Config, str], Verdict]
_EVERY = frozenset({"*"})
_DONORS = frozenset({SERVICE, CHECKER, "serve", "import", "add", "forget", "export-donor"})
_SERVICE = frozenset({SERVICE, CHECKER})
_LONG_RUNNING = frozenset({SERVICE, CHECKER, "serve"})

# Each check, and the commands it applies to ("*": every command).
# Permissions first: a later check may open the ledger, which makes its files private.
CHECKS: tuple[tuple[Check, frozenset[str]], ...] = (
    (_permissions, _LONG_RUNNING),
    (_key_length, _EVERY),
    (_key_set, _DONORS - _SERVICE),
    (_service_secrets, _SERVICE),
    (_webhook_secrets, _LONG_RUNNING),
    (_locales, _LONG_RUNNING),
    (_templates, frozenset({CHECKER})),
)


def validate(config: Config, command: str) -> Verdict:
    """The verdict on ``config`` for ``command`` (``check-config`` gets the one of ``run``)."""
    verdict = Verdict()
    for check, commands in CHECKS:
        if "*" in commands or command in commands:
            verdict.extend(check(config, command))
    return verdict
