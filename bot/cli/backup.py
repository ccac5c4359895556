"""``donorbot backup FILE``: a consistent copy of the ledger, safe while the bot runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.common import fail, load

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "backup",
        help="write a consistent copy of the ledger to FILE (safe while the bot runs)",
        description="Copy the ledger with SQLite's online backup API. To restore: stop the bot, copy the "
        "backup over ledger.path (removing any -wal and -shm files beside it), start the bot.",
    )
    p.add_argument("file", type=Path, metavar="FILE", help="where to write the copy")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=cmd_backup)


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.ledger.backup import BackupError, backup

    config = load(args)
    itself = args.file.resolve() == config.ledger_path.resolve()  # said better by backup()
    if args.file.exists() and not args.force and not itself:
        return fail(f"{args.file} already exists; give --force to replace it, or another name")
    try:
        copied = backup(config.ledger_path, args.file)
    except BackupError as exc:
        return fail(str(exc))
    rows = copied.rows
    counted = ", ".join(f"{rows[t]} {t}" for t in ("donations", "deliveries") if t in rows)
    print(
        f"{config.ledger_path} -> {args.file} ({copied.size / 1e6:.1f} MB, {counted}; "
        f"rows of {len(rows)} tables match the ledger; integrity ok)"
    )
    return 0
