"""The ``donorbot`` command. Each area registers its subcommands from its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot import __version__
from bot.cli import backup, chat, core, health, init, pictures, run, sources, sync

__all__ = ["build_parser", "main"]

_AREAS = (init, core, sources, sync, chat, run, health, pictures, backup)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="donorbot",
        description="Thank your donors and show momentum: monthly news for Discord, Matrix and the console.",
    )
    parser.add_argument("--version", action="version", version=f"donorbot {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (default: $DONORBOT_CONFIG, else ./config.toml)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for area in _AREAS:
        area.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
