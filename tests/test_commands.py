"""The platform-neutral command layer: parsing ``!`` commands."""

from __future__ import annotations

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
        ("!unknown", None),
        ("hello !donors", None),
        ("!", None),
        ("", None),
    ],
)
def test_bang_commands_are_parsed_with_their_argument(
    text: str, parsed: tuple[str, str | None] | None
) -> None:
    assert parse_bang(text) == parsed
