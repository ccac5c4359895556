"""Where discord.py sends its requests: Discord itself, or a compatible server.

discord.py 2.x has no setting for this. Every REST URL it builds, interaction
callbacks and follow-ups included, starts with the class attribute
``discord.http.Route.BASE``; the first gateway connection goes to
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (later ones to the
``resume_gateway_url`` the server gave in READY). So each of our clients
*claims* these two attributes while it is open, and the last one to close puts
discord.py's own values back. One process talks to one Discord-compatible
server: opening a client for another server while one is open is refused,
rather than silently sending its requests to the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

__all__ = ["DISCORD_API_BASE", "EndpointClaim", "claim_endpoints"]

DISCORD_API_BASE = "https://discord.com/api/v10"


@dataclass
class _Holders:
    api_base: str
    count: int
    original_base: str
    original_gateway: yarl.URL


_holders: _Holders | None = None


class EndpointClaim:
    """discord.py points at ``api_base`` until :meth:`release` (idempotent)."""

    def __init__(self, api_base: str) -> None:
        self.api_base = api_base
        self._released = False

    def use_gateway(self, url: str) -> None:
        """Open the next fresh gateway session at ``url`` (resumes use the server's own URL)."""
        if not self._released:
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)

    def release(self) -> None:
        global _holders
        if self._released or _holders is None:
            return
        self._released = True
        _holders.count -= 1
        if _holders.count == 0:
            Route.BASE = _holders.original_base
            DiscordWebSocket.DEFAULT_GATEWAY = _holders.original_gateway
            _holders = None


def claim_endpoints(api_base: str) -> EndpointClaim:
    """Point discord.py's REST calls at ``api_base`` (e.g. ``https://discord.com/api/v10``).

    Raises:
        RuntimeError: another open client of this process uses another server.
    """
    global _holders
    api_base = api_base.rstrip("/")
    if _holders is None:
        _holders = _Holders(api_base, 0, Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    elif _holders.api_base != api_base:
        raise RuntimeError(
            f"a Discord client for {_holders.api_base} is open in this process; "
            f"close it before opening one for {api_base}"
        )
    _holders.count += 1
    Route.BASE = api_base
    return EndpointClaim(api_base)
