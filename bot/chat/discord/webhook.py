"""Posting to a Discord channel through its webhook: no bot account, no gateway.

Execute Webhook (``POST /webhooks/{id}/{token}?wait=true``) posts as the webhook,
so the announcement and the rest of the bulletin are posted in order, each part
recorded as soon as it is posted. What a webhook can do differs from a bot:

- it cannot start a thread on a message in a text channel, so there the long parts
  follow the announcement in the channel; in a forum (or media) channel
  (``forum = true``) the first message opens a post named by the bulletin's title
  (``thread_name``) and the rest goes into it (``thread_id``); ``thread_id`` in the
  config puts everything in an existing thread;
- it cannot crosspost (publishing needs a bot), and it sends no nonce, so a reply
  lost on the way may be posted twice: the outbox's parts keep a resend to what is
  missing.

This module is the one retry layer for these requests: rate limits are waited out
up to a minute (longer ones defer the delivery to the next sweep, with the window in
the reason), a 5xx is tried three times in all, then deferred as well.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from bot.chat.discord.sender import MAX_RATE_LIMIT_WAIT, bulletin_shape
from bot.chat.errors import DeferredDeliveryError, PermanentDeliveryError, TransientDeliveryError
from bot.chat.message import Message
from bot.chat.sender import MemoryParts, PartLog
from bot.config import WEBHOOK_URL, Config, DiscordWebhookTarget, Target

__all__ = ["DiscordWebhookSender", "open_sender"]

log = logging.getLogger(__name__)

SERVER_ERROR_TRIES = 3
# Discord's JSON error codes (Opcodes and Status Codes) worth their own words.
_CODES = {
    10015: "unknown webhook (deleted in the channel's settings?)",
    50027: "invalid webhook token",
    220001: "a forum channel's webhook needs forum = true or thread_id",
    220003: "only a forum channel's webhook can open a post: remove forum = true",
}


class DiscordWebhookSender:
    """Sends rendered messages to ``discord-webhook`` targets."""

    platform = "discord-webhook"

    def __init__(self, config: Config, *, sleep: Any = asyncio.sleep) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        self._sleep = sleep
        self._not_before = 0.0  # the loop time before which the webhook's bucket is empty

    async def send(
        self, target: Target, message: Message, key: str, parts: PartLog | None = None
    ) -> list[str]:
        """The announcement, then the rest (in the forum post or thread when there is one)."""
        if not isinstance(target, DiscordWebhookTarget):
            raise PermanentDeliveryError(f"{target.name}: not a Discord webhook target")
        log_parts: PartLog = parts if parts is not None else MemoryParts()
        url = self._url(target)
        plan = bulletin_shape(message, target.mention_role)
        where = f"the Discord webhook of {target.name}"
        first = log_parts.sent("0")
        if first is None:
            body: dict[str, Any] = {"content": plan.announcement, "allowed_mentions": _mentions(target)}
            if target.forum:
                body["thread_name"] = plan.title
            files = (
                [(message.image.filename, message.image.data, message.image.mime)] if message.image else []
            )
            posted = await self._execute(url, body, files, target.thread_id, where)
            first = str(posted["id"])
            await log_parts.record("0", first)
            if target.forum:
                await log_parts.record("thread", str(posted["channel_id"]))
        ids = [first]
        thread = log_parts.sent("thread") if target.forum else target.thread_id
        for number, content in enumerate(plan.thread):
            name = f"thread.{number}"
            done = log_parts.sent(name)
            if done is None:
                body = {"content": content, "allowed_mentions": {"parse": []}}
                done = str((await self._execute(url, body, [], thread, where))["id"])
                await log_parts.record(name, done)
            ids.append(done)
        for number, attachment in enumerate(message.attachments):
            name = f"file.{number}"
            done = log_parts.sent(name)
            if done is None:
                body = {"allowed_mentions": {"parse": []}}
                files = [(attachment.filename, attachment.data, attachment.mime)]
                done = str((await self._execute(url, body, files, thread, where))["id"])
                await log_parts.record(name, done)
            ids.append(done)
        log.info("posted to %s: %d message(s)", where, len(ids))
        return ids

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _url(self, target: DiscordWebhookTarget) -> str:
        secret = self._config.secret(target.url_env)
        if secret is None:
            raise PermanentDeliveryError(
                f"{target.name}: url_env: environment variable {target.url_env} is not set"
            )
        url = secret.get_secret_value().strip()
        if not WEBHOOK_URL.fullmatch(url):
            raise PermanentDeliveryError(f"{target.name}: {target.url_env} is not a Discord webhook URL")
        return url

    async def _execute(
        self,
        url: str,
        body: dict[str, Any],
        files: list[tuple[str, bytes, str]],
        thread_id: int | str | None,
        where: str,
    ) -> dict[str, Any]:
        """Execute the webhook with ``?wait=true``; the message Discord created."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        params = {"wait": "true", **({"thread_id": str(thread_id)} if thread_id else {})}
        errors = 0
        while True:
            await self._wait_for_bucket(where)
            try:
                async with self._session.post(url, params=params, **_payload(body, files)) as response:
                    data = await _json(response)
                    self._remember_bucket(response)
                    if 200 <= response.status < 300 and isinstance(data, dict):
                        return data
                    status = response.status
                    retry_after = _retry_after(response, data)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise TransientDeliveryError(
                    f"{where}: cannot reach Discord ({type(exc).__name__}: {exc})"
                ) from exc
            if status == 429:
                wait = retry_after if retry_after is not None else 1.0
                if wait > MAX_RATE_LIMIT_WAIT:
                    raise DeferredDeliveryError(f"{where}: rate limited by Discord for {wait:.0f} s")
                await self._sleep(wait)
                continue
            if status >= 500:
                errors += 1
                if errors >= SERVER_ERROR_TRIES:
                    raise DeferredDeliveryError(
                        f"{where}: Discord is unwell (HTTP {status}), after {errors} tries"
                    )
                await self._sleep(2.0 ** (errors - 1))
                continue
            code = data.get("code") if isinstance(data, dict) else None
            said = _CODES.get(code or 0) or (data.get("message") if isinstance(data, dict) else None) or ""
            raise PermanentDeliveryError(
                f"{where}: Discord refused it (HTTP {status}{f', code {code}' if code else ''}: {said})"
            )

    async def _wait_for_bucket(self, where: str) -> None:
        loop = asyncio.get_running_loop()
        wait = self._not_before - loop.time()
        if wait > MAX_RATE_LIMIT_WAIT:
            raise DeferredDeliveryError(f"{where}: rate limited by Discord for {wait:.0f} s")
        if wait > 0:
            await self._sleep(wait)

    def _remember_bucket(self, response: aiohttp.ClientResponse) -> None:
        """Follow the X-RateLimit headers: an empty bucket waits for its reset before the next post."""
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset_after = response.headers.get("X-RateLimit-Reset-After")
        try:
            if remaining is not None and int(remaining) <= 0 and reset_after is not None:
                self._not_before = asyncio.get_running_loop().time() + float(reset_after)
        except ValueError:
            pass


def _mentions(target: DiscordWebhookTarget) -> dict[str, Any]:
    if target.mention_role:
        return {"parse": [], "roles": [str(target.mention_role)]}
    return {"parse": []}


def _payload(body: dict[str, Any], files: list[tuple[str, bytes, str]]) -> dict[str, Any]:
    if not files:
        return {"json": body}
    form = aiohttp.FormData(quote_fields=False)
    attachments = [{"id": i, "filename": name} for i, (name, _, _) in enumerate(files)]
    form.add_field(
        "payload_json", json.dumps({**body, "attachments": attachments}), content_type="application/json"
    )
    for i, (name, data, mime) in enumerate(files):
        form.add_field(f"files[{i}]", data, filename=name, content_type=mime)
    return {"data": form}


async def _json(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return None


def _retry_after(response: aiohttp.ClientResponse, data: Any) -> float | None:
    if isinstance(data, dict) and isinstance(data.get("retry_after"), int | float):
        return float(data["retry_after"])
    header = response.headers.get("Retry-After")
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


async def open_sender(config: Config) -> DiscordWebhookSender:
    """The sender for ``discord-webhook`` targets (each names its URL's variable)."""
    return DiscordWebhookSender(config)
