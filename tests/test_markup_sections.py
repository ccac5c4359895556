"""A message cut at its level-2 headings, for platforms that post long messages in parts."""

from __future__ import annotations

from bot.news.markup import split_sections


def test_lead_then_one_section_per_level2_heading() -> None:
    markdown = "# Title\n\nHello.\n\n## Goals\n\nA goal.\n\n### Detail\n\nMore.\n\n## Donations\n\n- one"
    assert split_sections(markdown) == [
        ("", "# Title\n\nHello."),
        ("Goals", "## Goals\n\nA goal.\n\n### Detail\n\nMore."),
        ("Donations", "## Donations\n\n- one"),
    ]


def test_a_heading_inside_a_code_fence_does_not_cut() -> None:
    markdown = "Lead\n\n```\n## not a heading\n```\n\n## Real\n\ntext"
    assert [heading for heading, _ in split_sections(markdown)] == ["", "Real"]


def test_text_without_headings_is_one_lead() -> None:
    assert split_sections("just a reply") == [("", "just a reply")]
