"""Bounds on what a webhook client may hold: time to send its headers, time to send its
body, and the number of connections open at once.

aiohttp has no timeout on reading a request's headers (a client sending one byte
every 2 s keeps its connection, and its slot, for ever) and none on the body. This
guard gives each connection a deadline: it must deliver its request line and headers
within ``header_timeout_seconds`` of connecting (or of the previous response, on a
kept-alive connection), else it is dropped; the handler reads the body within
``body_timeout_seconds`` (else 408). A connection beyond ``max_connections`` is closed
as it arrives. Each drop is one warning line, counted, at most one line a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

__all__ = ["Guard", "guard_middleware", "guarded_runner"]

log = logging.getLogger("donorbot.webhooks")


@dataclass
class Guard:
    """The limits, and what they did (for logs and tests)."""

    header_timeout: float = 10.0
    max_connections: int = 100
    active: int = 0
    dropped_slow: int = 0
    refused_busy: int = 0
    _last_log: float = 0.0

    def note(self, what: str) -> None:
        now = time.monotonic()
        if now - self._last_log >= 1.0:  # one line a second at most, however many clients misbehave
            self._last_log = now
            log.warning(
                "%s (dropped as too slow: %d, refused over %d connections: %d)",
                what, self.dropped_slow, self.max_connections, self.refused_busy,
            )  # fmt: skip


class _GuardedHandler(RequestHandler):
    """aiohttp's connection handler with a deadline for each request's headers."""

    guard: Guard

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self.guard
        self._refused = guard.active >= guard.max_connections
        if self._refused:
            guard.refused_busy += 1
            guard.note(f"webhook connection refused: {guard.max_connections} already open")
            cast(asyncio.Transport, transport).abort()
            return
        guard.active += 1
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self.arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            return
        self.guard.active -= 1
        self.disarm()
        super().connection_lost(exc)

    def arm(self) -> None:
        """Start the clock for the next request's headers."""
        self.disarm()
        self._deadline = asyncio.get_running_loop().call_later(self.guard.header_timeout, self._expire)

    def disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        self.guard.dropped_slow += 1
        self.guard.note(f"webhook client dropped: no complete request within {self.guard.header_timeout:g} s")
        if self.transport is not None:
            self.transport.abort()


class _GuardedServer(web.Server):
    guard: Guard

    def __call__(self) -> RequestHandler:
        handler = _GuardedHandler(self, loop=self._loop, **self._kwargs)
        handler.guard = self.guard
        return handler


class _GuardedRunner(web.AppRunner):
    def __init__(self, app: web.Application, guard: Guard, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._guard = guard

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GuardedServer  # the same server, making guarded handlers
        cast(_GuardedServer, server).guard = self._guard
        return server


def guarded_runner(app: web.Application, guard: Guard, **kwargs: Any) -> web.AppRunner:
    """An AppRunner whose connections follow ``guard`` (idle keep-alive is bounded the same way)."""
    return _GuardedRunner(app, guard, keepalive_timeout=guard.header_timeout, **kwargs)


@web.middleware
async def guard_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The headers are in: stop their clock while the request is handled, restart it after."""
    protocol = request.protocol
    if not isinstance(protocol, _GuardedHandler):
        return await handler(request)
    protocol.disarm()
    try:
        return await handler(request)
    finally:
        if protocol.transport is not None:
            protocol.arm()
