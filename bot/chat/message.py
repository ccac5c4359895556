"""A platform-neutral message: every adapter formats from this, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Attachment", "Image", "Message", "Section"]


@dataclass(frozen=True, slots=True)
class Image:
    """A PNG to attach (Discord) or upload as ``m.image`` (Matrix)."""

    filename: str
    data: bytes
    width: int
    height: int
    alt: str
    mime: str = "image/png"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that goes along with a message (e.g. the full list of named donors)."""

    filename: str
    data: bytes
    mime: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    """One part of a message, cut at its level-2 headings (``## News``).

    The first section (``heading == ""``) is the lead: the title and what comes
    before the first heading. Platforms that post long messages in several parts
    (a Discord thread, Matrix follow-up events) post the lead first and the other
    sections after it; each section's ``markdown``, ``text`` and ``html`` stand alone.
    """

    heading: str
    markdown: str
    text: str
    html: str
    paragraphs: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Message:
    """Rendered output.

    ``markdown`` is safe to post as-is: everything untrusted in it was escaped.
    ``html`` was produced from that Markdown and sanitised; ``text`` is plain.
    ``paragraphs`` is the Markdown cut at paragraph boundaries, for platforms
    with a length limit. ``sections`` is the same message cut at its level-2
    headings (empty for a short message that has none).
    """

    markdown: str
    text: str
    html: str
    image: Image | None = None
    title: str = ""
    paragraphs: tuple[str, ...] = field(default=())
    sections: tuple[Section, ...] = field(default=())
    attachments: tuple[Attachment, ...] = field(default=())
