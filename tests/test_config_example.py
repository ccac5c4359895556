"""config.example.toml loads, documents every key of the configuration, and checks clean
once its secrets are set."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.config import Config, load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


def models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, lists, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        for arg in typing.get_args(annotation):
            found += models_in(arg)
    return found


def every_key(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    keys: set[str] = set()
    if model in seen:
        return keys
    seen.add(model)
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        keys.add(name)
        for inner in models_in(field.annotation):
            keys |= every_key(inner, seen)
    return keys


def test_the_example_loads_with_every_section_filled() -> None:
    config = load_config(EXAMPLE)
    assert config.project.name == "Donor Friends"
    assert {t.platform for t in config.targets} == {"console", "matrix", "discord", "discord-webhook"}
    assert config.matrix is not None and config.discord is not None and config.goals
    hooks = config.webhooks
    assert all(
        getattr(hooks, name) is not None
        for name in ("kofi", "github_sponsors", "stripe", "opencollective", "patreon", "donorbox")
    )


def test_every_key_of_the_configuration_is_documented_in_the_example() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    written = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, flags=re.MULTILINE))
    tables = set(re.findall(r"^\[\[?([a-z_.]+)\]\]?", text, flags=re.MULTILINE))
    documented = written | {part for table in tables for part in table.split(".")}
    # The target keys every platform shares are listed once, in a comment.
    documented |= set(re.findall(r"^#\s{3}([a-z_]+)\s{2,}", text, flags=re.MULTILINE))
    missing = every_key(Config) - documented
    assert not missing, f"config.example.toml does not mention: {sorted(missing)}"
    assert len(every_key(Config)) > 60  # the walk really went through the sections


def test_the_example_is_valid_toml_with_no_secret_in_it() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert "token" not in {k for k in data.get("discord", {}) if not k.endswith("_env")}


def test_check_config_passes_on_the_example_once_its_secrets_are_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    shutil.copyfile(EXAMPLE, config)
    config.chmod(0o600)
    env_names = re.findall(r'^#?\s*[a-z_]+_env\s*=\s*"([A-Z0-9_]+)"', config.read_text(), flags=re.MULTILINE)
    env = {name: "a-secret-value-long-enough" for name in env_names}
    missing = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "check-config"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert missing.returncode == 2
    assert (
        "ledger.pseudonym_key_env: environment variable DONORBOT_PSEUDONYM_KEY is not set" in missing.stderr
    )
    ok = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "check-config"],
        capture_output=True, text=True, check=False, env={**os.environ, **env},
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "a-secret-value-long-enough" not in ok.stdout + ok.stderr, "secrets are never printed"
