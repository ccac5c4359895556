"""A platform-neutral message: every adapter formats from this, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Image", "Message"]


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
class Message:
    """Rendered output.

    ``markdown`` is safe to post as-is: everything untrusted in it was escaped.
    ``html`` was produced from that Markdown and sanitised; ``text`` is plain.
    ``paragraphs`` is the Markdown cut at paragraph boundaries, for platforms
    with a length limit.
    """

    markdown: str
    text: str
    html: str
    image: Image | None = None
    title: str = ""
    paragraphs: tuple[str, ...] = field(default=())
