"""Text that came from a donor or an import: made harmless before it reaches a chat.

Three layers, applied to every untrusted string the templates print:
1. ``clean``: strip control, zero-width and bidirectional-override characters,
   fold whitespace, keep at most a few combining marks on a letter ("Zalgo"
   text towers over the lines around it), and cap the length (a
   10,000-character name must not break the layout).
2. ``defuse``: neutralise what chats treat specially even in plain text:
   ``@`` mentions (``@everyone``, ``@here``, Matrix ``@room``), links with a
   scheme or ``www.``, and bare domains (``evil.example/login``), which Element
   and other clients turn into links by themselves.
3. ``escape_markdown``: backslash-escape Markdown syntax, so ``**bold**`` or
   ``[x](http://evil)`` show as typed. HTML is escaped later by the Markdown
   renderer (raw HTML is disabled there).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_MARKS", "MESSAGE_LENGTH", "NAME_LENGTH", "clean", "defuse", "escape_markdown", "untrusted"]

NAME_LENGTH = 64
MESSAGE_LENGTH = 300

_INVISIBLE = {
    "\u00ad", "\u034f", "\u061c", "\u115f", "\u1160", "\u17b4", "\u17b5", "\u180e",
    "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2060", "\u2061", "\u2062", "\u2063", "\u2064", "\u2066", "\u2067", "\u2068", "\u2069",
    "\u206a", "\u206b", "\u206c", "\u206d", "\u206e", "\u206f", "\u3164", "\ufeff", "\uffa0",
}  # fmt: skip
# Blank-looking characters that are not whitespace to Python: a name made of them looks empty.
_BLANKS = {"\u2800", "\u3000", "\u115f", "\u1160"}
_SPACES = re.compile(r"\s+")
# A letter carries at most this many combining marks (Vietnamese needs two once composed).
MAX_MARKS = 3
_MARKDOWN = re.compile(r"([\\`*_~|\[\]<>#&])")
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+)([.)]?)")
_LINK = re.compile(r"(?i)(://|\bwww\.)")
# A dot (or a full-width or ideographic one) between a name and what could be a top-level domain.
_DOMAIN_DOT = re.compile(r"(?<=\w)([.\uff0e\u3002\uff61])(?=[^\W\d_]{2,})")
# A word joiner: invisible, not a space, and it breaks every mention and autolink pattern.
_JOINER = "\u2060"


def clean(text: str, limit: int) -> str:
    """Printable, single-line, at most ``limit`` characters (an ellipsis marks a cut)."""
    kept = []
    marks = 0
    for char in unicodedata.normalize("NFC", text):
        if char in _INVISIBLE:
            continue
        if char in _BLANKS:
            kept.append(" ")
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
            kept.append(" " if char in "\t\n\r\v\f" else "")
            continue
        if category in ("Mn", "Me"):
            marks += 1
            if marks > MAX_MARKS:
                continue
        else:
            marks = 0
        kept.append(char)
    folded = _SPACES.sub(" ", "".join(kept)).strip()
    if len(folded) > limit:
        folded = folded[: limit - 1].rstrip() + "…"
    return folded


def defuse(text: str, *, links: bool = True) -> str:
    """Break mentions (and, unless ``links`` is false, autolinks) with an invisible word joiner."""
    text = text.replace("@", "@" + _JOINER)
    if not links:
        return text
    text = _LINK.sub(lambda m: m.group(1)[0] + _JOINER + m.group(1)[1:], text)
    return _DOMAIN_DOT.sub(lambda m: m.group(1) + _JOINER, text)


def escape_markdown(text: str) -> str:
    text = _MARKDOWN.sub(r"\\\1", text)

    # A list or heading marker at the very start: escape the marker, not the digits.
    def mark(m: re.Match[str]) -> str:
        if m.group(2).isdigit():
            return m.group(1) + m.group(2) + ("\\" + m.group(3) if m.group(3) else "")
        return m.group(1) + "\\" + m.group(2) + m.group(3)

    return _LINE_START.sub(mark, text, count=1)


def untrusted(text: str, limit: int = MESSAGE_LENGTH) -> str:
    """All three layers: what a template prints for any value it did not make itself."""
    return escape_markdown(defuse(clean(text, limit)))
