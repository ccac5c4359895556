"""bot.news.untrusted on any text: what it prints renders as exactly the text typed, and nothing more.

For any string, the Markdown that ``untrusted`` makes, once rendered (markdown-it, as
for Matrix and the HTML preview), is plain text equal to the cleaned input: no tag,
no link, no mention, no control or bidirectional character, on one line, no longer
than the limit. Named cases pin the layout attacks: Zalgo towers, blank names, bare
domains that clients turn into links.
"""

from __future__ import annotations

import html
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.news.markup import to_html
from bot.news.untrusted import MAX_MARKS, clean, defuse, untrusted

JOINER = "\u2060"
SINGLE = "\\`*_~|[]()<>#&!-+=.:@/\n\r\t >\u200b\u202e\u2066\u2800\u0301\u0337"
MARKUP = st.sampled_from(
    [*SINGLE, "@everyone", "@here", "@room", "<@&1>", "<@1>", "<#1>", "</a:1>", "<t:1:R>", "||", "~~", "```",
     "](javascript:alert(1))", "![x](http://e.x/i.png)", "<script>", "&lt;", "&#64;", "http://", "www.",
     "evil.com", "matrix.to/#/@a:b", "-# ", "> ", ">>> ", "1. ", "# "]
)  # fmt: skip
texts = st.lists(st.one_of(MARKUP, st.text(max_size=6)), max_size=30).map("".join)


def visible(rendered_html: str) -> str:
    """The text a reader sees in rendered HTML, word joiners aside."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered_html)).replace(JOINER, "").strip()


@settings(max_examples=400, deadline=None)
@given(text=texts, limit=st.sampled_from([64, 300]))
def test_rendered_untrusted_text_is_exactly_the_cleaned_text(text: str, limit: int) -> None:
    out = untrusted(text, limit)
    rendered = to_html(out)
    assert re.fullmatch(r"(<p>.*</p>)?", rendered, re.S), rendered  # one paragraph of text, no other tag
    assert "<" not in rendered.removeprefix("<p>").removesuffix("</p>")
    assert visible(rendered) == clean(text, limit).replace(JOINER, "")


@settings(max_examples=400, deadline=None)
@given(text=texts)
def test_no_mention_link_or_invisible_character_survives(text: str) -> None:
    out = untrusted(text, 300)
    assert "\n" not in out and "\r" not in out
    assert len(clean(text, 300)) <= 300
    assert not re.search(r"@(?!\u2060)", out), "an @ not followed by a word joiner can mention"
    assert "://" not in out and not re.search(r"(?i)\bwww\.", out)
    for char in out:
        category = unicodedata.category(char)
        assert char == JOINER or category not in ("Cc", "Cf", "Cs", "Co", "Cn"), hex(ord(char))
    assert not re.search(r"\w[.\uff0e\u3002\uff61][^\W\d_]{2}", out), "a bare domain can become a link"


def test_zalgo_is_cut_to_a_few_marks_per_letter() -> None:
    tower = "Z" + "\u0337\u0322\u031b\u0324\u031e" * 40 + "algo"
    out = clean(tower, 64)
    assert out.startswith("Z") and out.endswith("algo")
    assert len(out) == 1 + MAX_MARKS + 4
    assert clean("Nguyễn Thị Minh Khai", 64) == "Nguyễn Thị Minh Khai"  # composed letters are kept whole
    assert clean("e\u0301", 64) == "é"


def test_names_of_blank_looking_characters_are_empty() -> None:
    assert clean("\u2800\u2800\u3164\u115f\u3000", 64) == ""
    assert clean("Jo\u2800\u2800Bloggs", 64) == "Jo Bloggs"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("evil.com/login", "evil.\u2060com/login"),
        ("https://phishing.example/x", "https:\u2060//phishing.\u2060example/x"),
        ("ｅｖｉｌ．ｃｏｍ", "ｅｖｉｌ．\u2060ｃｏｍ"),
        ("jo@example.org", "jo@\u2060example.\u2060org"),
        ("J.R.R. Tolkien", "J.R.R. Tolkien"),  # one letter after the dot: not a domain
        ("Jo E.", "Jo E."),
        ("version 1.2", "version 1.2"),
    ],
)
def test_bare_domains_are_broken_and_initials_are_not(text: str, expected: str) -> None:
    assert defuse(text) == expected


def test_news_keeps_the_maintainers_links_but_not_their_mentions() -> None:
    assert (
        defuse("see https://example.org @everyone", links=False) == "see https://example.org @\u2060everyone"
    )
