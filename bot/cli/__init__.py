"""The ``donorbot`` command. Each area registers its subcommands from its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot import __version__
from bot.cli import backup, chat, core, health, init, pictures, run, sources, sync
from bot.files import private_umask

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
    # Whatever donorbot or a library creates (the ledger's -wal and -shm, backups, the Matrix
    # store, exports) holds donors' data or secrets: the owner's alone, whatever the caller's umask.
    private_umask()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SystemExit as exit_:
        if isinstance(exit_.code, int):  # a refused configuration (load exits 2): the same code in-process
            return exit_.code
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
