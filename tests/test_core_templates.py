"""A maintainer's templates: any mistake in them is one clear line naming the template file and
line (exit 2 in the CLI, never a traceback), check-config finds syntax errors ahead of time, and a
broken template never stands in for a good bulletin: the delivery waits until it is fixed.
The replies' goal block shows the same text bar and percent as the chat commands."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from bot.config import load_config
from bot.news.chart import text_progress_bar
from bot.news.render import Renderer, RenderError
from bot.news.report import GoalProgress

REPO = Path(__file__).resolve().parents[1]
KEY = "0123456789abcdef0123456789abcdef"


def donorbot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        capture_output=True, text=True, check=False, env=env, timeout=120,
    )  # fmt: skip


def project(tmp_path: Path, extra: str = "") -> Path:
    """A project whose maintainer overrides every English template with a copy of their own."""
    mine = tmp_path / "mine" / "en"
    mine.mkdir(parents=True)
    for source in (REPO / "templates").iterdir():
        (mine / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(
        '[project]\nname = "Donor Friends"\nlocale = "en"\ndata_dir = "data"\n'
        f'[news]\ntemplates_dir = "mine"\n{extra}',
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def append(path: Path, text: str) -> int:
    """Append ``text`` as a new last line of ``path``; return that line's number."""
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, text]) + "\n", encoding="utf-8")
    return len(lines) + 1


BROKEN = [
    ("{% if %}", "Expected an expression"),
    ("{{ nosuchthing.x }}", "'nosuchthing' is undefined"),
    ("{{ ''.__class__.__mro__ }}", "not allowed in a template"),
    ("{{ report.donors // 0 }}", "ZeroDivisionError"),
    ("{% include 'nofile.j2' %}", "no template named 'nofile.j2'"),
    ("{{ f.bar('half') }}", "TypeError"),
]


@pytest.mark.parametrize(("broken", "problem"), BROKEN)
def test_preview_names_the_template_file_and_line_of_any_mistake(
    tmp_path: Path, broken: str, problem: str
) -> None:
    config = project(tmp_path)
    template = tmp_path / "mine" / "en" / "bulletin.md.j2"
    line = append(template, broken)
    done = donorbot(config, "preview", "--month", "2026-01")
    assert done.returncode == 2, done.stderr
    errors = [entry for entry in done.stderr.splitlines() if entry.startswith("donorbot:")]
    assert errors == [f"donorbot: template {template}:{line}: " + errors[0].split(f":{line}: ", 1)[-1]]
    assert problem in errors[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == "", "nothing half-rendered"


@pytest.mark.parametrize(("broken", "problem"), BROKEN[1:4])
def test_a_broken_reply_block_names_the_replies_template(tmp_path: Path, broken: str, problem: str) -> None:
    config = project(tmp_path)
    replies = tmp_path / "mine" / "en" / "replies.md.j2"
    text = replies.read_text(encoding="utf-8")
    head, tail = text.split("{% block goal %}\n", 1)
    replies.write_text(head + "{% block goal %}\n" + broken + "\n" + tail, encoding="utf-8")
    line = head.count("\n") + 2
    renderer = Renderer(load_config(config))
    with pytest.raises(RenderError) as caught:
        renderer.reply("goal", "en", goals=[], report={"donors": 3})
    assert str(caught.value).startswith(f"template {replies}:{line}: ")
    assert problem in str(caught.value)
    with pytest.raises(RenderError, match="no block 'nosuchblock'"):
        renderer.reply("nosuchblock", "en")


def test_check_config_finds_a_syntax_error_in_the_maintainers_templates(tmp_path: Path) -> None:
    config = project(tmp_path)
    assert donorbot(config, "check-config").returncode == 0
    template = tmp_path / "mine" / "en" / "replies.md.j2"
    line = append(template, "{% for x in %}")
    done = donorbot(config, "check-config")
    assert done.returncode == 2
    assert f"{config}: news.templates_dir: template {template}:{line}: " in done.stderr
    assert "Traceback" not in done.stderr


def test_a_broken_template_leaves_the_bulletin_pending_until_it_is_fixed(tmp_path: Path) -> None:
    config = project(tmp_path, '[[targets]]\nname = "out"\nplatform = "console"\n')
    rows = "id,date,amount,currency,donor\nx1,2026-01-10,10.00,EUR,ann@example.org\n"
    (tmp_path / "d.csv").write_text(rows, encoding="utf-8")
    assert donorbot(config, "import", "csv", str(tmp_path / "d.csv")).returncode == 0
    template = tmp_path / "mine" / "en" / "bulletin.md.j2"
    good = template.read_text(encoding="utf-8")
    line = append(template, "{{ nosuchthing }}")

    broken = donorbot(config, "post", "--month", "2026-01")
    assert broken.returncode == 1
    assert "Monthly News" not in broken.stdout, "no broken bulletin is sent"
    assert f"2026-01 -> out: pending (cannot build the message: template {template}:{line}:" in broken.stdout

    template.write_text(good, encoding="utf-8")
    fixed = donorbot(config, "post", "--month", "2026-01")
    assert fixed.returncode == 0, fixed.stderr
    assert "Donor Friends – Monthly News – February 2026" in fixed.stdout
    assert "2026-01 -> out: sent" in fixed.stdout


def goal(reached: int, target: int | None, donors: int = 0, target_donors: int | None = None) -> GoalProgress:
    return GoalProgress(
        name="server",
        title="A new server",
        start=date(2026, 1, 1),
        end=date(2026, 6, 30),
        currency="EUR",
        target_amount=target,
        reached_amount=reached,
        target_donors=target_donors,
        reached_donors=donors,
    )


@pytest.mark.parametrize(
    ("locale", "progress", "expected"),
    [
        ("en", goal(123_456, 500_000), "**A new server**: {bar} 25%, €1,234.56 of €5,000.00 (until June 30, 2026)."),
        ("fr", goal(123_456, 500_000), "**A new server** : {bar} 25 %, 1 234,56 € sur 5 000,00 € (jusqu’au 30 juin 2026)."),
        ("en", goal(0, None, 7, 40), "**A new server**: {bar} 18%, 7 of 40 donors (until June 30, 2026)."),
        ("fr", goal(0, None, 7, 40), "**A new server** : {bar} 18 %, 7 donateurs sur 40 (jusqu’au 30 juin 2026)."),
        ("en", goal(199_800, 200_000), "**A new server**: {bar} 99%, €1,998.00 of €2,000.00"),
    ],
)  # fmt: skip
def test_the_goal_reply_shows_the_text_bar_and_percent(
    tmp_path: Path, locale: str, progress: GoalProgress, expected: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[project]\nname = "Donor Friends"\n', encoding="utf-8")
    reply = Renderer(load_config(config)).reply("goal", locale, goals=[progress])
    bar = text_progress_bar(progress.percent)
    # Babel separates French figures with no-break spaces.
    assert expected.format(bar=bar) in reply.markdown.replace("\xa0", " ").replace("\u202f", " ")
    assert bar in reply.text, "the plain-text version carries the same bar"
    assert bar.count("▰") == min(round(progress.percent / 5), 19), (
        "the progress, in 20 cells; full once reached"
    )
