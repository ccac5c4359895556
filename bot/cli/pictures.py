"""Subcommands of this area (registered by bot.cli)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """No subcommands yet."""
