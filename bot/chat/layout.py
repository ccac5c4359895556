"""How a long bulletin is laid out in chat: a headline, then its long parts, each within a size.

Both platforms post a bulletin the same way: one first message with the headline
(the title and figures, records, milestones, and the short sections right after
it, such as the goals), then the long parts (news, sponsors, the named donors)
as follow-ups in a thread on it. A part too big for one message is cut at
paragraph boundaries, a paragraph too big (a long list) between its lines, a
line too big between words: nothing is ever dropped for length.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.chat.message import Message, Section
from bot.news.markup import to_html, to_text

__all__ = ["HEADLINE_LIMIT", "Part", "fit", "part_of", "shape"]

# The headline stays a message people read at a glance (and one Discord message).
HEADLINE_LIMIT = 1800

_LIST_ITEM = re.compile(r"^\s{0,3}([-*+]|\d{1,9}[.)])\s", re.MULTILINE)
_SUB_HEADING = re.compile(r"^\s{0,3}#{3,6}\s", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Part:
    """One self-contained piece of a message: its Markdown, plain text and sanitised HTML."""

    markdown: str
    text: str
    html: str


def part_of(markdown: str) -> Part:
    """The part for ``markdown`` (already safe: escaped by the renderer), rendered again alone."""
    html = to_html(markdown)
    return Part(markdown, to_text(html), html)


def _is_long(section: Section) -> bool:
    """A section with a list or sub-headings (news, sponsors, donors) belongs in the thread."""
    return bool(_LIST_ITEM.search(section.markdown) or _SUB_HEADING.search(section.markdown))


def shape(message: Message, headline_limit: int = HEADLINE_LIMIT) -> tuple[Part, list[Part]]:
    """``(headline, rest)``: the message's first post and its follow-ups, in order.

    A message without sections (a short reply) is all headline. From the first
    long section on, everything goes to the follow-ups, so the order is kept.
    """
    sections = message.sections
    if len(sections) < 2:
        return Part(message.markdown, message.text, message.html), []
    head = [sections[0]]
    rest = list(sections[1:])
    while rest and not _is_long(rest[0]):
        joined = "\n\n".join(s.markdown for s in [*head, rest[0]])
        if len(joined) > headline_limit:
            break
        head.append(rest.pop(0))
    if len(head) == 1:
        lead = Part(head[0].markdown, head[0].text, head[0].html)
    else:
        lead = part_of("\n\n".join(s.markdown for s in head))
    return lead, [Part(s.markdown, s.text, s.html) for s in rest if s.markdown.strip()]


def fit(part: Part, size: Callable[[Part], int], limit: int) -> list[Part]:
    """``part`` cut into parts of at most ``limit`` by ``size``, at the largest boundaries that work.

    Paragraphs are kept whole and packed together while they fit; a paragraph too
    big alone is cut between lines (a list between its items), a line between words.
    """
    if size(part) <= limit:
        return [part]
    pieces = _pieces(part.markdown, size, limit)
    empty = size(part_of(""))
    out: list[Part] = []
    group: list[str] = []
    used = 0
    for markdown, cost in pieces:
        if group and used + cost > limit - empty:
            out.extend(_exact(group, size, limit))
            group, used = [], 0
        group.append(markdown)
        used += cost
    if group:
        out.extend(_exact(group, size, limit))
    return out


def _pieces(markdown: str, size: Callable[[Part], int], limit: int) -> list[tuple[str, int]]:
    """``(markdown, cost)`` of each smallest piece worth keeping whole, in order."""
    empty = size(part_of(""))
    out: list[tuple[str, int]] = []
    for paragraph in _split(markdown, "\n\n"):
        cost = size(part_of(paragraph)) - empty
        if cost + empty <= limit:
            out.append((paragraph, cost + 4))
            continue
        for line in _split(paragraph, "\n"):
            cost = size(part_of(line)) - empty
            if cost + empty <= limit:
                out.append((line, cost + 4))
                continue
            out.extend((words, size(part_of(words)) - empty + 4) for words in _words(line, size, limit))
    return out


def _exact(group: Sequence[str], size: Callable[[Part], int], limit: int) -> list[Part]:
    """The group as one part if it really fits (costs are estimates), else cut in two, recursively."""
    part = part_of(_join(group))
    if size(part) <= limit or len(group) == 1:
        return [part]
    middle = len(group) // 2
    return [*_exact(group[:middle], size, limit), *_exact(group[middle:], size, limit)]


def _join(group: Sequence[str]) -> str:
    # Lines of one list go back together with a single newline; paragraphs with a blank line.
    out = ""
    for piece in group:
        if not out:
            out = piece
        elif _LIST_ITEM.match(piece) and _LIST_ITEM.match(out.rsplit("\n", 1)[-1]):
            out = f"{out}\n{piece}"
        else:
            out = f"{out}\n\n{piece}"
    return out


def _split(text: str, sep: str) -> list[str]:
    return [p.strip("\n") for p in re.split(r"\n\s*\n" if sep == "\n\n" else r"\n", text) if p.strip()]


def _words(line: str, size: Callable[[Part], int], limit: int) -> list[str]:
    """A single line too big for a message, cut between words (inside a word only if it must)."""
    out: list[str] = []
    current = ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if size(part_of(candidate)) <= limit:
            current = candidate
            continue
        if current:
            out.append(current)
        current = word
        while size(part_of(current)) > limit:  # one "word" bigger than a message: cut it
            cut = max(1, len(current) // 2)
            while cut > 1 and size(part_of(current[:cut])) > limit:
                cut //= 2
            out.append(current[:cut])
            current = current[cut:]
    if current:
        out.append(current)
    return out
