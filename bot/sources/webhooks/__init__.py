"""Signed webhooks from donation platforms: one parser per platform and the HTTP app."""

from __future__ import annotations

from bot.sources.webhooks.app import RedactingAccessLogger, build_webhook_app, enabled_hooks

__all__ = ["RedactingAccessLogger", "build_webhook_app", "enabled_hooks"]
