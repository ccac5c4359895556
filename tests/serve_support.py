"""`donorbot serve` as a real process on 127.0.0.1, and `donorbot import` beside it, on one ledger."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from sources_support import KEY, KEY_ENV
from webhook_support import SECRETS

ROOT = Path(__file__).resolve().parent.parent

HOOKS = """[webhooks]
host = "127.0.0.1"
port = 0

[webhooks.github_sponsors]
secret_env = "T_GITHUB"

[webhooks.opencollective]
secret_env = "T_OC"
"""

ENV = {KEY_ENV: KEY, "T_GITHUB": SECRETS["T_GITHUB"], "T_OC": SECRETS["T_OC"], "PYTHONPATH": str(ROOT)}


@asynccontextmanager
async def serving(config: Path) -> AsyncIterator[str]:
    """Run ``donorbot serve`` until the block ends (SIGTERM); yields its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "serve",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **ENV},
        cwd=config.parent,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        banner = []
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            assert line, (await process.stderr.read()).decode()
            banner.append(line)
            if "GET  /healthz" in line:
                break
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", "".join(banner))
        assert match, banner
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
        assert code == 0, (await process.stderr.read()).decode()


async def post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=dict(headers)) as r:
        return r.status, await r.json(content_type=None)


async def donorbot(config: Path, *args: str) -> tuple[int, str, str]:
    """``donorbot --config CONFIG ARGS`` as its own process (the ledger is shared with ``serve``)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **ENV},
        cwd=config.parent,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return int(process.returncode or 0), out.decode(), err.decode()
