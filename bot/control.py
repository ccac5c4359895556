"""The running service's control socket: how ``post`` and ``forget`` hand their work to ``donorbot run``.

While ``run`` holds a ledger's lease (:mod:`bot.lease`), it is the one process that
sends for that ledger, with its own connections to the chat platforms and the
ledger. It listens on a Unix socket (``DATA_DIR/donorbot.sock``, mode 0600; a peer
of another user is refused) named in the lease file.

The protocol is JSON lines: one request per connection, one answer line.

- ``{"v": 1, "op": "ping"}`` → ``{"ok": true, "pid": 4242, "since": "2026-01-01T10:00:00+00:00"}``
- ``{"v": 1, "op": "send", "deliveries": [{"kind": "bulletin", "month": "2025-12", "target": "general"}]}``:
  send these deliveries, already recorded as owed, now →
  ``{"ok": true, "outcomes": [{"target": "general", "state": "sent", "detail": "..."}]}``
- ``{"v": 1, "op": "forget", "donor": "someone@example.org"}``: forget a donor with the
  service's own ledger connection → ``{"ok": true, "result": {...what changed...}}``

Any problem is ``{"ok": false, "error": "why"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.lease import LeaseInfo, holder
from bot.months import Month
from bot.outbox import OwedRow

__all__ = [
    "PROTOCOL",
    "ControlError",
    "ControlServer",
    "ForgetRequest",
    "NoService",
    "Ping",
    "Request",
    "SendRequest",
    "ask",
    "ask_service",
    "encode",
    "parse",
]

log = logging.getLogger(__name__)

PROTOCOL = 1
LINE_LIMIT = 1 << 20  # bytes of one request or answer


@dataclass(frozen=True, slots=True)
class Ping:
    """Is the service there, and who is it."""


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Send these owed deliveries now and say how it went."""

    deliveries: tuple[OwedRow, ...]


@dataclass(frozen=True, slots=True)
class ForgetRequest:
    """Forget a donor (an email, or ``PLATFORM:ID``)."""

    donor: str


Request = Ping | SendRequest | ForgetRequest
Handler = Callable[[Request], Awaitable[dict[str, Any]]]


class ControlError(Exception):
    """The request was malformed, or the service could not do it."""


class NoService(Exception):
    """No service answers on this socket."""


def encode(request: Request) -> bytes:
    body: dict[str, Any] = {"v": PROTOCOL}
    if isinstance(request, Ping):
        body["op"] = "ping"
    elif isinstance(request, SendRequest):
        body["op"] = "send"
        body["deliveries"] = [
            {"kind": row.kind, "month": str(row.month), "target": row.target} for row in request.deliveries
        ]
    else:
        body["op"] = "forget"
        body["donor"] = request.donor
    return json.dumps(body).encode() + b"\n"


def parse(line: bytes) -> Request:
    """One request line, checked."""
    try:
        body = json.loads(line)
    except ValueError as exc:
        raise ControlError(f"not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("v") != PROTOCOL:
        raise ControlError(f'expected an object with "v": {PROTOCOL}')
    op = body.get("op")
    if op == "ping":
        return Ping()
    if op == "send":
        items = body.get("deliveries")
        if not isinstance(items, list) or not items:
            raise ControlError("send: deliveries must be a non-empty list")
        rows = []
        for item in items:
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) for k in ("kind", "month", "target")
            ):
                raise ControlError("send: each delivery has a kind, a month (YYYY-MM) and a target")
            try:
                month = Month.parse(item["month"])
            except ValueError as exc:
                raise ControlError(f"send: {exc}") from None
            rows.append(OwedRow(item["kind"], month, item["target"]))
        return SendRequest(tuple(rows))
    if op == "forget":
        donor = body.get("donor")
        if not isinstance(donor, str) or not donor:
            raise ControlError("forget: donor must be a non-empty string")
        return ForgetRequest(donor)
    raise ControlError(f"unknown op {op!r} (ping, send, forget)")


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


class ControlServer:
    """Listens on ``path`` and answers each request with ``handler``."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner = self.path.parent.stat().st_uid
        if owner != os.getuid():  # a folder someone else made could let them take the socket's place
            raise OSError(f"{self.path.parent}: belongs to another user; cannot put the control socket there")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a service that died: the lease says nobody else listens
        previous = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=LINE_LIMIT)
        finally:
            os.umask(previous)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            uid = _peer_uid(writer)
            if uid is not None and uid not in (os.getuid(), 0):
                answer: dict[str, Any] = {"ok": False, "error": "refused: another user"}
            else:
                try:
                    request = parse(await reader.readline())
                    answer = {"ok": True, **await self._handler(request)}
                except ControlError as exc:
                    answer = {"ok": False, "error": str(exc)}
                except Exception as exc:  # the service says what went wrong rather than hanging up
                    log.error("control request failed: %s", exc, exc_info=exc)
                    answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            writer.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the asker went away
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def ask(path: Path, request: Request, wait: float) -> dict[str, Any]:
    """Send one request to the service listening on ``path``; its answer.

    Raises:
        NoService: nothing listens there (no service, or one that died).
        ControlError: the service refused or failed the request.
        TimeoutError: no answer within ``wait`` seconds.
    """
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=LINE_LIMIT)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise NoService(f"{path}: {exc.strerror or exc}") from None
    try:
        writer.write(encode(request))
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), wait)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if not line:
        raise ControlError("the service closed the connection without answering (stopping?)")
    answer = json.loads(line)
    if not isinstance(answer, dict) or not answer.get("ok"):
        raise ControlError(str(answer.get("error") if isinstance(answer, dict) else answer))
    return answer


async def ask_service(ledger: Path, request: Request, wait: float) -> tuple[LeaseInfo, dict[str, Any]]:
    """Ask the ``donorbot run`` holding ``ledger``'s lease; who it is, and its answer.

    Raises:
        NoService: no service holds the ledger (or it is not listening yet).
    """
    info = holder(ledger)
    if info is None or info.socket is None:
        raise NoService(f"no donorbot run holds {ledger}")
    return info, await ask(Path(info.socket), request, wait)
