"""The bulletin's picture through the core: a sensible picture (or none) whatever the history,
and the console target writes it next to its output and prints where."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image as PILImage

from bot.config import load_config
from bot.core import Core
from bot.ledger.models import NewDonation
from bot.months import Month
from bot.news.chart_style import CHART_SIZE

KEY = "0123456789abcdef0123456789abcdef"


def config_text(goal: bool) -> str:
    text = '[project]\nname = "Donor Friends"\ntimezone = "Europe/Paris"\ndata_dir = "data"\n'
    if goal:
        text += (
            '[[goals]]\nname = "g"\ntitle = "Server"\namount = 100\nstart = 2026-01-01\nend = 2026-12-31\n'
        )
    return text


@pytest.fixture
async def opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[bool, Core]]:
    """Two projects on their own ledgers: one with a running goal, one without."""
    monkeypatch.setenv("DONORBOT_PSEUDONYM_KEY", KEY)
    cores = {}
    for goal in (True, False):
        folder = tmp_path / ("goal" if goal else "plain")
        folder.mkdir()
        (folder / "config.toml").write_text(config_text(goal), encoding="utf-8")
        cores[goal] = await Core.open(load_config(folder / "config.toml"))
    try:
        yield cores
    finally:
        for core in cores.values():
            await core.close()


def donations(months: list[Month], per_month: int = 3) -> list[NewDonation]:
    return [
        NewDonation(
            source="test",
            external_id=f"{month}-{i}",
            amount=1000,
            currency="EUR",
            received_at=datetime(month.year, month.month, 10 + i, 12, tzinfo=UTC),
            donor_id=f"test:d{i}",
        )
        for month in months
        for i in range(per_month)
    ]


def size_of(data: bytes) -> tuple[int, int]:
    with PILImage.open(io.BytesIO(data)) as picture:
        return picture.size


@pytest.mark.parametrize("goal", [True, False])
async def test_an_empty_ledger_gives_a_bulletin_without_a_picture(
    opened: dict[bool, Core], goal: bool
) -> None:
    bulletin = await opened[goal].bulletin(Month(2026, 3), "en")
    assert bulletin.image is None
    assert "We did not receive any donations in March 2026" in bulletin.markdown


@pytest.mark.parametrize("goal", [True, False])
@pytest.mark.parametrize("months", [1, 2, 30])
async def test_any_history_gives_a_picture_of_the_chat_preview_size(
    opened: dict[bool, Core], goal: bool, months: int
) -> None:
    end = Month(2026, 3)
    core = opened[goal]
    await core.ledger.write(donations([end.shift(-i) for i in range(months)]))
    for locale in ("en", "fr"):
        bulletin = await core.bulletin(end, locale)
        assert bulletin.image is not None and bulletin.image.data.startswith(b"\x89PNG")
        assert size_of(bulletin.image.data) == CHART_SIZE
        assert bulletin.image.alt, "the picture is described for screen readers"
    # A month with no donation of its own, after some history: still a picture, never an error.
    assert (await core.bulletin(end.next(), "en")).image is not None


async def test_the_goal_reply_picture_is_drawn_only_for_a_running_goal(opened: dict[bool, Core]) -> None:
    goals = await opened[True].goals_now(datetime(2026, 3, 1, tzinfo=UTC))
    picture = await opened[True].goal_image(goals, "fr")
    assert picture is not None and picture.data.startswith(b"\x89PNG")
    assert await opened[False].goal_image(await opened[False].goals_now(), "en") is None


def test_the_console_target_writes_the_picture_next_to_its_output_and_prints_its_path(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        config_text(goal=True) + '[[targets]]\nname = "out"\nplatform = "console"\noutput_dir = "charts"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    rows = "id,date,amount,currency,donor\n" + "".join(
        f"x{i},2026-0{1 + i % 3}-10,10.00,EUR,p{i}@example.org\n" for i in range(9)
    )
    (tmp_path / "d.csv").write_text(rows, encoding="utf-8")
    env = {**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY}

    def donorbot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(config), *args],
            capture_output=True, text=True, check=False, env=env, timeout=120,
        )  # fmt: skip

    assert donorbot("import", "csv", str(tmp_path / "d.csv")).returncode == 0
    done = donorbot("post", "--month", "2026-03")
    assert done.returncode == 0, done.stderr
    [picture] = (tmp_path / "charts").glob("*.png")
    assert f"[chart: {picture}]" in done.stdout
    assert size_of(picture.read_bytes()) == CHART_SIZE
