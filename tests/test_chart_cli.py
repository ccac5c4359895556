"""``donorbot chart`` end to end: a real ledger file, the real core, the PNG on disk."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image as PILImage
from test_chart import bar_runs, fill_fraction

from bot.cli import main
from bot.config import load_config
from bot.core import Core
from bot.ledger.models import NewDonation
from bot.news.chart import HIGHLIGHT_COLOUR, NEW_COLOUR, RETURNING_COLOUR

CONFIG = """
[project]
name = "Example"
timezone = "Europe/Paris"
locale = "en"
base_currency = "EUR"
data_dir = "."

[ledger]
path = "ledger.sqlite3"
pseudonym_key_env = "DONORBOT_CHART_TEST_KEY"

[[goals]]
name = "servers"
title = "New servers"
amount = "200"
start = 2025-11-01
end = 2026-06-30
"""

# October: a, b, c give for the first time. November: a again, d is new.
# December: a, b, d come back, e and f are new; 5 donors beat October's record of 3.
GIFTS = {
    (2025, 10): [("a", 1000), ("b", 1000), ("c", 1000)],
    (2025, 11): [("a", 1000), ("d", 1000)],
    (2025, 12): [("a", 2000), ("b", 2000), ("d", 2000), ("e", 2000), ("f", 2000)],
}


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DONORBOT_CHART_TEST_KEY", "a test key that is long enough")
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")

    async def fill() -> None:
        core = await Core.open(load_config(path))
        try:
            await core.ledger.write(
                NewDonation(
                    source="manual",
                    external_id=f"{year}-{month}-{donor}",
                    amount=amount,
                    currency="EUR",
                    received_at=datetime(year, month, 15, 12, tzinfo=UTC),
                    donor_id=f"email:{donor}@example.org",
                )
                for (year, month), gifts in GIFTS.items()
                for donor, amount in gifts
            )
        finally:
            await core.close()

    asyncio.run(fill())
    return path


def test_chart_command_writes_the_bulletin_chart(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_en, out_fr = tmp_path / "en.png", tmp_path / "fr.png"
    args = ["--config", str(config_path), "chart", "--month", "2025-12"]
    assert main([*args, "--output", str(out_en)]) == 0
    assert main([*args, "--locale", "fr", "--output", str(out_fr)]) == 0
    assert f"{out_fr} (1200×675 PNG)" in capsys.readouterr().out

    for out in (out_en, out_fr):
        img = PILImage.open(out)
        assert img.size == (1200, 675)
        # October's donors were all new, November's base is returning, December is highlighted.
        assert [bar.colour for bar in bar_runs(img, 3)] == [NEW_COLOUR, RETURNING_COLOUR, HIGHLIGHT_COLOUR]
        # The goal: 20 € in November and 100 € in December of 200 € is 60 %.
        fraction, width = fill_fraction(img, top=img.height // 2)
        assert width > 1000
        assert abs(fraction - 0.60) <= 0.01
    assert out_en.read_bytes() != out_fr.read_bytes()


def test_chart_command_without_data_says_so(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "none.png"
    assert main(["--config", str(config_path), "chart", "--month", "2024-01", "--output", str(out)]) == 1
    assert "nothing to draw" in capsys.readouterr().err
    assert not out.exists()


def test_chart_command_reports_bad_locale_and_unwritable_output(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--config", str(config_path), "chart", "--month", "2025-12"]
    assert main([*base, "--locale", "xx_YY", "--output", str(tmp_path / "x.png")]) == 2
    assert "xx_YY" in capsys.readouterr().err
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    assert main([*base, "--output", str(blocked / "x.png")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_chart_command_creates_the_output_folder_and_leaves_no_partial_file(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "charts" / "x.png"
    assert main(["--config", str(config_path), "chart", "--month", "2025-12", "--output", str(out)]) == 0
    assert PILImage.open(out).size == (1200, 675)
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.png"]
