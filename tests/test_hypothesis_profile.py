"""Property tests draw the same examples on every run unless exploring is asked for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

DRAWN: list[int] = []


@settings(max_examples=5)
@given(st.integers())
def test_draws_something(value: int) -> None:
    DRAWN.append(value)


def test_the_default_profile_is_derandomized() -> None:
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        assert settings.default.derandomize is True
        assert settings.default.database is None


def _draws(tmp_path: Path, profile: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"}
    if profile:
        env["HYPOTHESIS_PROFILE"] = profile
    probe = Path(__file__).with_name("test_hypothesis_profile.py")
    script = (
        "import pytest\n"
        f"pytest.main(['-q', '-p', 'no:cacheprovider', '{probe}::test_draws_something'])\n"
        "import test_hypothesis_profile as m\n"  # the module pytest imported, after conftest
        "print('DRAWN', m.DRAWN)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=probe.parent, env=env, capture_output=True, text=True, timeout=120
    ).stdout
    return next(line for line in out.splitlines() if line.startswith("DRAWN"))


def test_two_ci_runs_draw_the_same_examples_and_explore_runs_differ(tmp_path: Path) -> None:
    assert _draws(tmp_path, None) == _draws(tmp_path, None)
    assert _draws(tmp_path, "explore") != _draws(tmp_path, "explore")
