"""A small GraphQL-over-HTTP client for the pull sources: paced, honouring 429, never leaking a token.

Requests go only to the configured URL (redirects are not followed). Each client
keeps within a request budget per minute (Open Collective allows 10 a minute to
anonymous clients, 100 with a token); a 429 is waited out as its ``Retry-After``
says, up to :data:`MAX_WAIT` seconds, else the sync fails and is retried at the
next interval. GitHub answers a rate limit with 403 and ``X-RateLimit-Remaining: 0``
(then ``X-RateLimit-Reset`` says when) or ``Retry-After``: treated the same. A refused token (401, 403 or the API's own "unauthorized" error)
is a :class:`SyncError` naming the config key and the variable that holds it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.sources.sync.base import SyncError

__all__ = ["MAX_WAIT", "GraphQLClient", "TokenRef", "retry_after_seconds"]

MAX_WAIT = 300.0  # seconds a sync may wait for a rate limit before it gives up until the next interval
TIMEOUT = 60.0
MAX_429 = 5  # rate-limit answers waited out in one sync
MAX_BODY = 64 * 1024 * 1024  # an answer larger than this is not an API answer


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


class TokenRef:
    """A token and where it came from, so that errors can name the variable (never the value)."""

    def __init__(self, key: str, env: str, value: str) -> None:
        self.key = key  # e.g. sources.opencollective.token_env
        self.env = env
        self.value = value

    def redact(self, text: str) -> str:
        return text.replace(self.value, "[token]") if self.value else text


def _exhausted(headers: Mapping[str, str]) -> bool:
    """A 403 that is a rate limit: GitHub's primary (no requests left) or secondary (Retry-After)."""
    return headers.get("X-RateLimit-Remaining") == "0" or "Retry-After" in headers


def _until_reset(reset: str | None) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (a Unix time), or None."""
    try:
        return max(float(reset or "") - time.time(), 0.0) + 1.0  # a second past, as GitHub advises
    except ValueError:
        return None


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, but no more than MAX_BODY + 1 bytes of it."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            break
    return b"".join(chunks)


class GraphQLClient:
    """POSTs GraphQL queries to one URL; returns ``data`` or raises SyncError.

    Args:
        url: the endpoint, as configured.
        what: how errors name the API ("Open Collective").
        headers: extra headers (the token's, built by the caller).
        token: the token's origin, for error messages and redaction; None when anonymous.
        per_minute: request budget per sliding minute.
        sleep, clock: injectable for tests (seconds).
    """

    def __init__(
        self,
        url: str,
        what: str,
        *,
        headers: Mapping[str, str] | None = None,
        token: TokenRef | None = None,
        per_minute: int = 60,
        anonymous_hint: str = "",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.what = what
        self.headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
        self.token = token
        self.per_minute = max(per_minute, 1)
        self.anonymous_hint = anonymous_hint
        self.requests = 0
        self.waited = 0.0  # seconds spent waiting for rate limits
        self._sleep = sleep
        self._clock = clock
        self._sent: deque[float] = deque()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> GraphQLClient:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _clean(self, text: str) -> str:
        text = self.token.redact(text) if self.token else text
        return " ".join(text.split())[:300]

    async def _pace(self) -> None:
        """Wait until one more request fits in the per-minute budget."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()
        if len(self._sent) >= self.per_minute:
            wait = 60.0 - (now - self._sent[0])
            if wait > 0:
                self.waited += wait
                await self._sleep(wait)
            self._sent.popleft()
        self._sent.append(self._clock())

    def _refused(self, status: int | str) -> SyncError:
        if self.token is None:
            hint = f" ({self.anonymous_hint})" if self.anonymous_hint else ""
            return SyncError(f"{self.what} at {self.url} refused an anonymous request ({status}){hint}")
        return SyncError(
            f"{self.token.key}: the token in {self.token.env} was refused by {self.what} at {self.url}"
            f" ({status}); check it is valid and not expired"
        )

    async def query(self, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Run ``query``; its ``data``. Raises SyncError for anything but a clean answer."""
        assert self._session is not None, "use GraphQLClient inside 'async with'"
        body = json.dumps({"query": query, "variables": dict(variables)})
        limited = 0
        while True:
            await self._pace()
            self.requests += 1
            try:
                async with self._session.post(
                    self.url, data=body, headers=self.headers, allow_redirects=False
                ) as response:
                    status = response.status
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                    if status == 403 and _exhausted(response.headers):
                        # GitHub says "rate limited" with 403 and its X-RateLimit headers, not 429.
                        status = 429
                        if retry_after is None:
                            retry_after = _until_reset(response.headers.get("X-RateLimit-Reset"))
                    raw = await _read_body(response)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise SyncError(
                    f"{self.what} at {self.url}: {self._clean(str(exc) or type(exc).__name__)}"
                ) from None
            if status == 429:
                limited += 1
                wait = retry_after if retry_after is not None else 60.0
                if limited > MAX_429 or wait > MAX_WAIT:
                    raise SyncError(
                        f"{self.what} at {self.url}: rate limited (429, retry after {wait:.0f} s);"
                        " tried again at the next interval"
                    )
                self.waited += wait
                await self._sleep(wait)
                continue
            break
        if status in (401, 403):
            raise self._refused(f"HTTP {status}")
        if len(raw) > MAX_BODY:
            raise SyncError(f"{self.what} at {self.url}: answer larger than {MAX_BODY} bytes")
        if status >= 300:
            raise SyncError(
                f"{self.what} at {self.url}: HTTP {status}: {self._clean(raw.decode('utf-8', 'replace'))}"
            )
        try:
            answer = json.loads(raw)
        except ValueError:
            raise SyncError(f"{self.what} at {self.url}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise SyncError(f"{self.what} at {self.url}: unexpected answer (not a JSON object)")
        errors = answer.get("errors")
        if errors:
            messages = [
                str(e.get("message", e)) if isinstance(e, dict) else str(e)
                for e in (errors if isinstance(errors, list) else [errors])
            ]
            joined = "; ".join(dict.fromkeys(messages))  # the same error once, not once per node
            codes = (
                " ".join(json.dumps(e.get("extensions", {})) for e in errors if isinstance(e, dict))
                if isinstance(errors, list)
                else ""
            )
            if any(
                word in (joined + codes).lower()
                for word in ("unauthorized", "unauthenticated", "bad credentials")
            ):
                raise self._refused("unauthorized")
            raise SyncError(f"{self.what} at {self.url}: {self._clean(joined)}")
        data = answer.get("data")
        if not isinstance(data, dict):
            raise SyncError(f"{self.what} at {self.url}: unexpected answer (no data)")
        return data
