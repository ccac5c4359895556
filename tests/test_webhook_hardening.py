"""The webhook server against hostile clients, as ``donorbot serve`` (its own process) on 127.0.0.1.

Secret path segments never reach a log line (behind a proxy's prefix, with doubled
slashes, in a malformed request line); slow clients are dropped after a bounded time; a
connection over the limit is refused; an oversized header is one warning line, with no
traceback and none of its bytes.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from sources_support import KEY, KEY_ENV, write_config
from yarl import URL

ROOT = Path(__file__).resolve().parent.parent
OC_SECRET = "oc-path-secret-hardening-5e1f"
KOFI_SECRET = "kofi-token-hardening-77a2"
HOOKS = """[logging]
level = "INFO"

[webhooks]
host = "127.0.0.1"
port = 0
header_timeout_seconds = 2
body_timeout_seconds = 2
max_connections = 30

[webhooks.kofi]
secret_env = "T_KOFI"

[webhooks.opencollective]
secret_env = "T_OC"
"""


class Served:
    def __init__(self, process: asyncio.subprocess.Process, host: str, port: int) -> None:
        self.process, self.host, self.port = process, host, port
        self.url = f"http://{host}:{port}"
        self.stderr = ""


@asynccontextmanager
async def serve(tmp_path: Path) -> AsyncIterator[Served]:
    config = write_config(tmp_path, HOOKS, timezone="UTC")
    env = {**os.environ, KEY_ENV: KEY, "T_KOFI": KOFI_SECRET, "T_OC": OC_SECRET, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "serve",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
    match = re.search(r"listening on http://(127\.0\.0\.1):(\d+)", line)
    assert match, line
    served = Served(process, match.group(1), int(match.group(2)))
    # Read stderr as it comes, so that a chatty server never blocks on a full pipe.
    chunks: list[bytes] = []

    async def drain() -> None:
        assert process.stderr is not None
        while chunk := await process.stderr.read(65536):
            chunks.append(chunk)

    reader = asyncio.create_task(drain())
    try:
        yield served
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
        await asyncio.wait_for(reader, 10)
        served.stderr = b"".join(chunks).decode()


async def _raw(served: Served, data: bytes, wait: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection(served.host, served.port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), wait)
    finally:
        writer.close()


async def test_secret_path_segments_never_reach_a_log_line(tmp_path: Path) -> None:
    async with serve(tmp_path) as served:
        async with aiohttp.ClientSession() as http:
            paths = [
                f"/donorbot/webhooks/opencollective/{OC_SECRET}",  # a proxy kept its prefix
                f"//webhooks/opencollective/{OC_SECRET}",
                f"/webhooks//opencollective//{OC_SECRET}",
                f"/webhooks/opencollective/{OC_SECRET}/more?token={OC_SECRET}",
                f"/webhooks/opencollective/{OC_SECRET}x",  # a wrong secret that holds the right one
            ]
            for path in paths:
                async with http.post(URL(served.url + path, encoded=True), data=b"{}") as response:
                    assert response.status in (400, 401, 404, 405), (path, response.status)
            async with http.post(f"{served.url}/webhooks/opencollective/{OC_SECRET}", data=b"{") as response:
                assert response.status == 400
        # A malformed request line holding the secret (a space inside the target).
        answer = await _raw(served, f"POST /webhooks/opencollective/{OC_SECRET} x HTTP/1.1\r\n\r\n".encode())
        assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.0 400")), answer
    assert "/opencollective/{token}" in served.stderr, served.stderr
    assert OC_SECRET not in served.stderr and OC_SECRET[:-4] not in served.stderr, served.stderr
    assert "Traceback" not in served.stderr


async def test_an_oversized_header_is_one_warning_line_without_its_bytes(tmp_path: Path) -> None:
    marker = "Zq" * 8
    async with serve(tmp_path) as served:
        request = f"POST /webhooks/kofi HTTP/1.1\r\nHost: x\r\nX-Big: {marker * 10_000}\r\n\r\n".encode()
        answer = await _raw(served, request)
        assert answer.split(b" ")[1] in (b"400", b"431"), answer[:100]
        async with aiohttp.ClientSession(served.url) as http, http.get("/healthz") as response:
            assert response.status == 200, "the server goes on"
    lines = [line for line in served.stderr.splitlines() if "malformed HTTP request" in line]
    assert len(lines) == 1 and " WARNING " in lines[0], served.stderr
    assert marker not in served.stderr
    assert "Traceback" not in served.stderr and " ERROR " not in served.stderr, served.stderr


async def _slow_client(served: Served, seconds: float) -> float | None:
    """Send a request one byte every 0.5 s; how long until the server closed (None: never)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(served.host, served.port)
    request = b"POST /webhooks/kofi HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    try:
        for byte in request:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1), 0.5) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                pass
            if time.monotonic() - started > seconds:
                return None
        return None
    except (ConnectionError, OSError):
        return time.monotonic() - started
    finally:
        writer.close()


async def test_slow_clients_are_dropped_after_a_bounded_time_and_extra_connections_refused(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path) as served:
        started = time.monotonic()
        results = await asyncio.gather(*(_slow_client(served, 15.0) for _ in range(40)))
        elapsed = time.monotonic() - started
        assert all(r is not None for r in results), "every slow client was dropped"
        held = sorted(r for r in results if r is not None)
        assert held[-1] < 6.0, held  # 2 s for the headers, with slack for a busy machine
        assert sum(1 for r in held if r < 1.0) >= 10, "over 30 connections, refused at once"
        assert elapsed < 10
        async with aiohttp.ClientSession(served.url) as http, http.get("/healthz") as response:
            assert response.status == 200
    drops = [
        line for line in served.stderr.splitlines() if "webhook client dropped" in line or "refused:" in line
    ]
    assert 1 <= len(drops) <= 10, served.stderr  # at most a line a second
    assert "Traceback" not in served.stderr


async def test_a_body_sent_too_slowly_is_answered_408(tmp_path: Path) -> None:
    async with serve(tmp_path) as served:
        reader, writer = await asyncio.open_connection(served.host, served.port)
        writer.write(b"POST /webhooks/kofi HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        started = time.monotonic()
        answer = b""
        try:
            for _ in range(20):  # one byte every 0.5 s: 10 s in all, the limit is 2 s
                writer.write(b"d")
                await writer.drain()
                try:
                    answer = await asyncio.wait_for(reader.read(65536), 0.5)
                except TimeoutError:
                    continue
                break
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert time.monotonic() - started < 5
    assert "body not received within 2 s" in served.stderr
