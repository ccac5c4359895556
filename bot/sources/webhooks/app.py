"""The webhook HTTP server: one route per platform whose secret is configured.

Answers: 401 bad or missing signature (nothing stored), 400 body not understood,
413 body over ``webhooks.max_body_bytes`` (refused while reading, never buffered),
202 genuine event that is not a donation, 200 stored (or already stored: the
ledger keeps one donation per platform id, so a redelivery changes nothing),
500 when storing failed (the platform will retry). ``GET /healthz`` says which
routes are live. Only the normalised items reach ``on_items``; the raw payload,
emails and secrets are never stored or logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.config import Config
from bot.ledger.models import WriteResult
from bot.logs import redact_path, register_secret
from bot.sources.webhooks import (
    buymeacoffee,
    donorbox,
    github_sponsors,
    helloasso,
    kofi,
    opencollective,
    patreon,
    stripe,
)
from bot.sources.webhooks.common import Ignored, Item, Malformed, Outcome
from bot.sources.webhooks.guard import guard_middleware
from bot.sources.webhooks.signatures import (
    same_secret,
    verify_donorbox,
    verify_github,
    verify_hex_hmac,
    verify_stripe,
)
from bot.sources.webhooks.spool import Intake

__all__ = ["HOOKS", "Hook", "OnItems", "RedactingAccessLogger", "build_webhook_app", "enabled_hooks"]

log = logging.getLogger("donorbot.webhooks")

OnItems = Callable[[list[Item]], Awaitable[WriteResult]]
Check = Callable[[bytes, Mapping[str, str], float], "str | None"]
Parse = Callable[[bytes, Mapping[str, str]], Outcome]

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Hook:
    """One platform's route: where it listens, how requests are authenticated and read."""

    name: str
    check: Check
    parse: Parse
    path_secret: str | None = None

    @property
    def path(self) -> str:
        base = f"/webhooks/{self.name}"
        return base + "/{token}" if self.path_secret is not None else base


HOOKS = web.AppKey("donorbot_webhooks", list[Hook])  # the live routes, for whoever runs the app


def _kofi_check(token: str, body: bytes, headers: Mapping[str, str], now: float) -> str | None:
    given = kofi.decode(body).get("verification_token")
    if not same_secret(token, given if isinstance(given, str) else None):
        return "verification_token does not match"
    return None


def _github_check(key: str, body: bytes, headers: Mapping[str, str], now: float) -> str | None:
    return verify_github(key, body, headers.get("X-Hub-Signature-256"))


def _stripe_check(
    key: str, tolerance: int, body: bytes, headers: Mapping[str, str], now: float
) -> str | None:
    return verify_stripe(key, body, headers.get("Stripe-Signature"), now, tolerance)


def _donorbox_check(
    key: str, tolerance: int, body: bytes, headers: Mapping[str, str], now: float
) -> str | None:
    return verify_donorbox(key, body, headers.get("Donorbox-Signature"), now, tolerance)


def _header_hmac_check(
    key: str, header: str, algorithm: str, body: bytes, headers: Mapping[str, str], now: float
) -> str | None:
    return verify_hex_hmac(key, body, headers.get(header), algorithm)


def _no_check(body: bytes, headers: Mapping[str, str], now: float) -> str | None:
    return None  # the secret path segment is the authentication


def _patreon_parse(currency: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
    return patreon.parse(body, headers, currency)


def enabled_hooks(config: Config) -> list[Hook]:
    """The routes whose secrets are set; a configured platform without its secret is logged and left off."""
    settings = config.webhooks
    hooks: list[Hook] = []
    if not settings.enabled:
        return hooks

    def secret(key: str, env: str | None) -> str | None:
        value = config.secret(env)
        if value is None:
            # Said once, with its line, by the configuration's verdict (bot.validation).
            log.debug("webhooks.%s: environment variable %s is not set; route disabled", key, env)
            return None
        register_secret(value.get_secret_value())  # never in a log line, wherever it turns up
        return value.get_secret_value()

    if settings.kofi and (key := secret("kofi", settings.kofi.secret_env)):
        hooks.append(Hook("kofi", partial(_kofi_check, key), kofi.parse))
    if settings.github_sponsors and (key := secret("github_sponsors", settings.github_sponsors.secret_env)):
        hooks.append(Hook("github-sponsors", partial(_github_check, key), github_sponsors.parse))
    if settings.stripe and (key := secret("stripe", settings.stripe.secret_env)):
        check = partial(_stripe_check, key, settings.stripe.tolerance_seconds)
        hooks.append(Hook("stripe", check, stripe.parse))
    if settings.opencollective and (key := secret("opencollective", settings.opencollective.secret_env)):
        hooks.append(Hook("opencollective", _no_check, opencollective.parse, path_secret=key))
    if settings.patreon and (key := secret("patreon", settings.patreon.secret_env)):
        check = partial(_header_hmac_check, key, "X-Patreon-Signature", "md5")
        hooks.append(Hook("patreon", check, partial(_patreon_parse, settings.patreon.currency)))
    if settings.donorbox and (key := secret("donorbox", settings.donorbox.secret_env)):
        check = partial(_donorbox_check, key, settings.donorbox.tolerance_seconds)
        hooks.append(Hook("donorbox", check, donorbox.parse))
    if settings.buymeacoffee and (key := secret("buymeacoffee", settings.buymeacoffee.secret_env)):
        check = partial(_header_hmac_check, key, "x-signature-sha256", "sha256")
        hooks.append(Hook("buymeacoffee", check, buymeacoffee.parse))
    if settings.helloasso:
        ha = settings.helloasso
        signing = secret("helloasso", ha.signature_key_env) if ha.signature_key_env else None
        path = secret("helloasso", ha.path_secret_env) if ha.path_secret_env else None
        # Both configured means both required; one missing from the environment disables the route.
        if (signing or not ha.signature_key_env) and (path or not ha.path_secret_env):
            ha_check: Check = _no_check
            if signing:
                ha_check = partial(_header_hmac_check, signing, "x-ha-signature", "sha256")
            hooks.append(Hook("helloasso", ha_check, helloasso.parse, path_secret=path))
    return hooks


class RedactingAccessLogger(AbstractAccessLogger):
    """An access log that never writes a secret path segment (``/webhooks/NAME/{token}``).

    aiohttp's default access log writes the full path, which for Open Collective and
    HelloAsso holds the secret: pass this as ``access_log_class`` to the AppRunner. The
    segment is redacted wherever ``webhooks`` stands in the path (a reverse proxy's
    prefix such as ``/donorbot/webhooks/opencollective/SECRET``, doubled slashes), and the
    query string is never written.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.3fs", request.method, redact_path(request.path), response.status, time)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def _json(code: int, /, **fields: object) -> web.Response:
    return web.json_response(fields, status=code)


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class _SlowBody(Exception):
    """The body did not arrive within ``webhooks.body_timeout_seconds``."""


async def _read_body(request: web.Request, limit: int, seconds: float) -> bytes | None:
    try:
        async with asyncio.timeout(seconds):
            return await _read_limited(request, limit)
    except TimeoutError:
        raise _SlowBody from None


def build_webhook_app(
    config: Config,
    on_items: OnItems,
    *,
    clock: Callable[[], float] = time.time,
    problem: Callable[[], str | None] = lambda: None,
    intake: Intake | None = None,
) -> web.Application:
    """The aiohttp application: ``GET /healthz`` and one ``POST`` route per enabled platform.

    Args:
        config: the bot's configuration (``[webhooks]`` and the secrets it names).
        on_items: stores what a request brought (``Ledger.write``).
        clock: Unix time, for the signatures that carry a timestamp.
        problem: why deliveries cannot be taken now (the ledger was deleted or replaced...),
            or None; while it says something, deliveries get 503 (the platform retries later)
            and ``/healthz`` answers 503 with the reason.
        intake: the spool a verified delivery is written to before it is answered 200
            (``on_items`` is then the intake's business); without it ``on_items`` is awaited.
    """
    limit = config.webhooks.max_body_bytes
    hooks = enabled_hooks(config)
    app = web.Application(client_max_size=limit + 1, middlewares=[guard_middleware])
    app[HOOKS] = hooks
    reported: list[str] = []

    def unavailable() -> str | None:
        why = problem()
        if why is not None and why not in reported:
            reported.append(why)
            log.error("not taking webhooks: %s", why)
        return why

    async def healthz(request: web.Request) -> web.Response:
        if (why := unavailable()) is not None:
            return _json(503, status="unhealthy", problem=why, webhooks=[h.name for h in hooks])
        return _json(200, status="ok", webhooks=[h.name for h in hooks])

    def handler(hook: Hook) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            if unavailable() is not None:
                return _json(503, status="unavailable")
            if hook.path_secret is not None and not same_secret(
                hook.path_secret, request.match_info.get("token")
            ):
                log.warning("%s: rejected: wrong secret path", hook.name)
                return _json(401, status="unauthorised")
            try:
                body = await _read_body(request, limit, config.webhooks.body_timeout_seconds)
            except _SlowBody:
                log.warning(
                    "%s: rejected: body not received within %g s",
                    hook.name,
                    config.webhooks.body_timeout_seconds,
                )
                response = _json(408, status="too slow")
                response.force_close()
                return response
            if body is None:
                log.warning("%s: rejected: body over %d bytes", hook.name, limit)
                return _json(413, status="too large", limit=limit)
            try:
                problem = hook.check(body, request.headers, clock())
                if problem is not None:
                    log.warning("%s: rejected: %s", hook.name, problem)
                    return _json(401, status="unauthorised")
                outcome = hook.parse(body, request.headers)
            except Malformed as exc:
                log.warning("%s: malformed: %s", hook.name, exc)
                return _json(400, status="malformed", problem=str(exc))
            if isinstance(outcome, Ignored):
                log.info("%s: ignored: %s", hook.name, outcome.reason)
                return _json(202, status="ignored", reason=outcome.reason)
            try:
                taken = await intake.take(hook.name, outcome) if intake else await on_items(outcome)
            except Exception as exc:
                # The message of a storage error is not shown: it could quote what was being stored.
                log.error("%s: storing failed: %s", hook.name, type(exc).__name__)
                return _json(500, status="error")
            if taken is None:  # on disk in the spool; the ledger is busy and will get it soon
                log.info("%s: queued (the ledger is busy; the delivery is in the spool)", hook.name)
                return _json(200, status="queued")
            result = taken
            status = (
                "stored"
                if result.inserted or result.refunds_applied or result.refunds_pending
                else "duplicate"
            )
            log.info(
                "%s: %s (inserted %d, duplicates %d, refunds %d applied, %d pending)",
                hook.name,
                status,
                result.inserted,
                result.duplicates,
                result.refunds_applied,
                result.refunds_pending,
            )
            return _json(
                200,
                status=status,
                inserted=result.inserted,
                duplicates=result.duplicates,
                refunds_applied=result.refunds_applied,
                refunds_pending=result.refunds_pending,
            )

        return handle

    app.router.add_get("/healthz", healthz)
    for hook in hooks:
        app.router.add_post(hook.path, handler(hook))
    return app
