"""Markdown in, sanitised HTML and plain text out (markdown-it-py + nh3)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt

__all__ = ["ALLOWED_TAGS", "paragraphs", "split_sections", "to_html", "to_text"]

# The HTML subset Matrix clients render (client-server spec, m.room.message formats).
ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
    "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
_SCHEMES = {"http", "https", "mailto"}

# Raw HTML off: a donor's "<script>" is text, never markup. No linkify: links are the template's.
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    "strikethrough"
)


def to_html(markdown: str) -> str:
    rendered = _MD.render(markdown)
    return str(nh3.clean(rendered, tags=ALLOWED_TAGS, attributes=_ATTRIBUTES, url_schemes=_SCHEMES)).strip()


_BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote", "pre", "table", "tr", "hr"}


class _TextMaker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "li":
            self.out.append("\n• ")
        elif tag == "br":
            self.out.append("\n")
        elif tag == "a":
            self._href.append(dict(attrs).get("href"))
        elif tag in _BLOCKS:
            self.out.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href:
            href = self._href.pop()
            if href and not href.startswith("mailto:"):
                self.out.append(f" ({href})")
        elif tag in _BLOCKS:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def to_text(html: str) -> str:
    """Readable plain text of sanitised HTML (for consoles and notification previews)."""
    maker = _TextMaker()
    maker.feed(html)
    maker.close()
    text = "".join(maker.out)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def paragraphs(markdown: str) -> tuple[str, ...]:
    """The Markdown cut at blank lines, for platforms with a length limit."""
    return tuple(part.strip("\n") for part in re.split(r"\n\s*\n", markdown.strip()) if part.strip())


_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def split_sections(markdown: str) -> list[tuple[str, str]]:
    """The Markdown cut before each level-2 heading: ``[(heading, markdown), ...]``.

    The first item is the lead (heading ``""``), possibly empty when the text
    starts with a heading; a ``## `` inside a code fence does not cut.
    """
    sections: list[tuple[str, list[str]]] = [("", [])]
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((line[3:].strip(), [line]))
        else:
            sections[-1][1].append(line)
    out = [(heading, "\n".join(lines).strip("\n")) for heading, lines in sections]
    return [item for i, item in enumerate(out) if i == 0 or item[1]]
