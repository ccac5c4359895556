"""Cut a bulletin into Discord messages of at most 2,000 characters.

Paragraphs are kept whole and packed together while they fit. A paragraph
longer than a message is cut between lines, and a line longer than a message
between words; only a single "word" longer than a whole message (a huge URL)
is ever cut inside, because nothing else could be sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

__all__ = ["DISCORD_MESSAGE_LIMIT", "paragraphs_of", "split_paragraphs"]

DISCORD_MESSAGE_LIMIT = 2000

_PARAGRAPH_JOIN = "\n\n"


def split_paragraphs(
    paragraphs: Sequence[str], limit: int = DISCORD_MESSAGE_LIMIT, *, first_reserve: int = 0
) -> list[str]:
    """Pack ``paragraphs`` into parts of at most ``limit`` characters.

    Args:
        paragraphs: the text cut at paragraph boundaries (empty ones are dropped).
        limit: the most characters one part may hold.
        first_reserve: characters kept free in the first part (for a prefix such as a role mention).
    """
    if limit - first_reserve < 1:
        raise ValueError("the first part has no room left")
    parts: list[str] = []
    current = ""

    def budget() -> int:
        return limit - (first_reserve if not parts else 0)

    for paragraph in paragraphs:
        paragraph = paragraph.strip("\n")
        if not paragraph.strip():
            continue
        joined = f"{current}{_PARAGRAPH_JOIN}{paragraph}" if current else paragraph
        if len(joined) <= budget():
            current = joined
            continue
        if current:
            parts.append(current)
            current = ""
        if len(paragraph) <= budget():
            current = paragraph
            continue
        for piece in _cut(paragraph, budget, seps=("\n", " ")):
            if current:
                parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


def paragraphs_of(markdown: str) -> list[str]:
    """Markdown cut at blank lines, for messages that do not carry their paragraphs."""
    return [p for p in markdown.split(_PARAGRAPH_JOIN) if p.strip()]


def _cut(text: str, budget: Callable[[], int], seps: tuple[str, ...]) -> Iterator[str]:
    """Cut ``text`` at the last separator that fits, preferring earlier separators in ``seps``."""
    while len(text) > budget():
        limit = budget()
        window = text[: limit + 1]  # a separator right after the limit still leaves a fitting head
        for sep in seps:
            cut = window.rfind(sep)
            if cut > 0:
                head, tail = text[:cut].rstrip(" "), text[cut + len(sep) :]
                if sep == " ":
                    tail = tail.lstrip(" ")
                break
        else:
            head, tail = text[:limit], text[limit:]
        if head.strip():
            yield head
        text = tail
    if text.strip():
        yield text
