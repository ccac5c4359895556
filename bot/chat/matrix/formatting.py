"""Event contents: a Message as ``m.room.message`` (body + sanitised ``formatted_body``), images, replies.

The core hands over HTML it already sanitised; it is cleaned again here against
the subset Matrix clients render, because this is the edge where it leaves the
process. Links to ``matrix.to`` are unwrapped (they would render as pills, i.e.
mentions), and every content carries an empty ``m.mentions`` so that nothing in
a bulletin or a reply can notify a user or the whole room.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import nh3

from bot.chat.layout import Part
from bot.chat.message import Attachment, Image, Message

__all__ = [
    "ALLOWED_TAGS",
    "file_content",
    "image_content",
    "reply_relation",
    "safe_html",
    "text_content",
    "thread_relation",
]

# From the client-server spec's list of HTML tags clients should render.
ALLOWED_TAGS = frozenset({
    "a", "b", "blockquote", "br", "caption", "code", "del", "details", "div", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "span", "strike", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
})  # fmt: skip
_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
_SCHEMES = {"http", "https", "mailto"}
_PILL_PREFIXES = ("https://matrix.to/", "http://matrix.to/", "matrix:")


def _no_pills(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href" and value.strip().lower().startswith(_PILL_PREFIXES):
        return None
    return value


def safe_html(html: str) -> str:
    """``html`` reduced to the tags Matrix clients render, without scripts, styles or pills."""
    cleaned: str = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        attribute_filter=_no_pills,
        url_schemes=_SCHEMES,
    )
    return cleaned.strip()


def text_content(message: Message | Part, msgtype: str = "m.notice") -> dict[str, Any]:
    """The text part: plain text as ``body``, the sanitised HTML as ``formatted_body``.

    ``body`` is what clients without HTML show, notifications and search index:
    the plain-text rendering, never the Markdown source with its marks and escapes.
    """
    body = message.text.strip() or message.markdown.strip()
    content: dict[str, Any] = {"msgtype": msgtype, "body": body, "m.mentions": {}}
    html = safe_html(message.html) if message.html else ""
    if html:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = html
    return content


def thread_relation(root: str, previous: str) -> dict[str, Any]:
    """``m.relates_to`` of a follow-up in the thread on ``root`` (replying to ``previous`` for old clients)."""
    return {
        "rel_type": "m.thread",
        "event_id": root,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": previous},
    }


def file_content(
    attachment: Attachment, *, url: str | None = None, file: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An ``m.file`` (the full list of named donors, say): ``url`` in a plain room, ``file`` if encrypted."""
    content: dict[str, Any] = {
        "msgtype": "m.file",
        "body": attachment.description or attachment.filename,
        "filename": attachment.filename,
        "info": {"mimetype": attachment.mime, "size": len(attachment.data)},
        "m.mentions": {},
    }
    return _located(content, url, file)


def _located(content: dict[str, Any], url: str | None, file: dict[str, Any] | None) -> dict[str, Any]:
    """Where the media is: ``file`` (with its keys) in an encrypted room, else ``url``."""
    if file is not None:
        content["file"] = file
    elif url is not None:
        content["url"] = url
    else:
        raise ValueError(f"an {content['msgtype']} needs url or file")
    return content


def image_content(
    image: Image, *, url: str | None = None, file: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An ``m.image``: ``url`` in a plain room, ``file`` (with its keys) in an encrypted one."""
    content: dict[str, Any] = {
        "msgtype": "m.image",
        "body": image.alt or image.filename,
        "filename": image.filename,
        "info": {"mimetype": image.mime, "size": len(image.data), "w": image.width, "h": image.height},
        "m.mentions": {},
    }
    return _located(content, url, file)


def reply_relation(event_id: str, source: Mapping[str, Any]) -> dict[str, Any]:
    """``m.relates_to`` answering ``event_id``: in its thread if it was in one, else as a reply."""
    relates = source.get("content", {}).get("m.relates_to")
    if isinstance(relates, dict) and relates.get("rel_type") == "m.thread" and relates.get("event_id"):
        return {
            "rel_type": "m.thread",
            "event_id": relates["event_id"],
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": event_id},
        }
    return {"m.in_reply_to": {"event_id": event_id}}
