"""Signed webhooks from donation platforms: one parser per platform and the HTTP app."""

from __future__ import annotations

from bot.sources.webhooks.app import HOOKS, RedactingAccessLogger, build_webhook_app, enabled_hooks

__all__ = ["HOOKS", "RedactingAccessLogger", "build_webhook_app", "enabled_hooks"]
