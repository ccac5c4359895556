"""The platform-neutral command layer: parsing ``!`` commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.chat.commands import parse_bang


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("!donors", ("donors", None)),
        ("!donors 2025-06", ("donors", "2025-06")),
        ("  !DONORS   2025-06 ", ("donors", "2025-06")),
        ("!goal", ("goal", None)),
        ("!news post 2025-12", ("news post", "2025-12")),
        ("!news preview", ("news preview", None)),
        ("!news", ("news", None)),
        ("!news delete", ("news", None)),
        ("!donors 2025-06 extra", None),
        ("!unknown", ("unknown", None)),  # answered: "try !help"
        ("!important: read this", None),  # not a command word
        ("!!!", None),
        ("hello !donors", None),
        ("!", None),
        ("", None),
    ],
)
def test_bang_commands_are_parsed_with_their_argument(
    text: str, parsed: tuple[str, str | None] | None
) -> None:
    assert parse_bang(text) == parsed


def broken_reply_template(tmp_path: Path) -> Path:
    """A project whose replies template breaks in the ``donate`` block only."""
    repo = Path(__file__).resolve().parents[1]
    mine = tmp_path / "mine" / "en"
    mine.mkdir(parents=True)
    for source in (repo / "templates").iterdir():
        text = source.read_text(encoding="utf-8")
        if source.name == "replies.md.j2":
            text = text.replace("{% block donate %}", "{% block donate %}{{ nosuchthing.x }}")
        (mine / source.name).write_text(text, encoding="utf-8")
    config_file = tmp_path / "config.toml"
    config_file.write_text('[project]\nname = "P"\ndata_dir = "d"\n[news]\ntemplates_dir = "mine"\n')
    return config_file


async def test_a_broken_reply_template_gives_a_short_apology_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.chat.commands import CommandService, Invocation
    from bot.config import load_config
    from bot.core import Core

    monkeypatch.setenv("DONORBOT_PSEUDONYM_KEY", "commands-test-key-0123456789")
    core = await Core.open(load_config(broken_reply_template(tmp_path)))
    try:
        reply = await CommandService(core).handle(Invocation("donate"))
        fine = await CommandService(core).handle(Invocation("help"))
    finally:
        await core.close()
    assert not reply.ok and "Sorry" in reply.message.markdown
    assert fine.ok


async def test_news_post_posts_to_the_targets_the_asker_administers_and_preview_is_for_admins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collections.abc import Collection

    from bot.chat.commands import PREVIEW_INTERVAL, CommandService, Invocation, PublishOutcome
    from bot.config import load_config
    from bot.core import Core
    from bot.months import Month

    asked: list[list[str] | None] = []

    async def publish(month: Month, targets: Collection[str] | None = None) -> list[PublishOutcome]:
        asked.append(sorted(targets) if targets is not None else None)
        return [PublishOutcome(name, "sent") for name in targets or ()]

    monkeypatch.setenv("DONORBOT_PSEUDONYM_KEY", "commands-test-key-0123456789")
    (tmp_path / "config.toml").write_text('[project]\nname = "P"\ndata_dir = "d"\n')
    core = await Core.open(load_config(tmp_path / "config.toml"))
    clock = [1000.0]
    service = CommandService(core, publish=publish, clock=lambda: clock[0])
    try:
        # An admin of room "a" alone, asking from wherever: "a" only, and the reply names only it.
        scoped = await service.handle(Invocation("news post", "2020-01", admin_of=frozenset({"a"})))
        # Admin where typed, but of no target: nothing is posted anywhere.
        nowhere = await service.handle(Invocation("news post", "2020-01", is_admin=True))
        member_preview = await service.handle(Invocation("news preview", "2020-01", user="m"))
        first = await service.handle(Invocation("news preview", "2020-01", is_admin=True, user="x"))
        again = await service.handle(Invocation("news preview", "2020-01", is_admin=True, user="x"))
        clock[0] += PREVIEW_INTERVAL
        later = await service.handle(Invocation("news preview", "2020-01", is_admin=True, user="x"))
    finally:
        await core.close()

    assert asked == [["a"]]
    assert scoped.ok and "a: sent" in scoped.message.markdown
    assert not nowhere.ok and "admins" in nowhere.message.markdown
    assert not member_preview.ok and "admins" in member_preview.message.markdown
    assert first.ok and not again.ok and "try again in a minute" in again.message.markdown
    assert later.ok


async def test_help_and_an_unknown_command_show_the_platforms_prefix_and_the_clients_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.chat.commands import CommandService, Invocation
    from bot.chat.discord.localisation import local_names
    from bot.config import load_config
    from bot.core import Core

    monkeypatch.setenv("DONORBOT_PSEUDONYM_KEY", "commands-test-key-0123456789")
    (tmp_path / "config.toml").write_text('[project]\nname = "P"\ndata_dir = "d"\n')
    core = await Core.open(load_config(tmp_path / "config.toml"))
    service = CommandService(core)
    try:
        matrix_help = await service.handle(Invocation("help"))
        french = Invocation("help", locale="fr", prefix="/", names=local_names("fr"))
        discord_help = await service.handle(french)
        unknown = await service.handle(Invocation("foo"))
        unknown_fr = await service.handle(Invocation("foo", locale="fr", prefix="/", names=local_names("fr")))
    finally:
        await core.close()

    assert "**!donors** [YYYY-MM]" in matrix_help.message.markdown
    assert "**!news preview** [YYYY-MM]" in matrix_help.message.markdown
    assert "**/donateurs** [AAAA-MM]" in discord_help.message.markdown
    assert "**/nouvelles aperçu** [AAAA-MM]" in discord_help.message.markdown
    assert "**/aide**" in discord_help.message.markdown
    assert not unknown.ok and "**!help**" in unknown.message.markdown
    assert "**/aide**" in unknown_fr.message.markdown
