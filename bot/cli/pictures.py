"""``donorbot chart``: write a month's chart, the picture its bulletin carries, to a PNG file."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.common import EXIT_CONFIG, fail, load, locale_problem, month_arg, with_core

if TYPE_CHECKING:
    from bot.chat.message import Image
    from bot.core import Core

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "chart",
        help="write a month's chart (donors per month, goal progress) to a PNG file",
        description="Write the chart a month's bulletin carries: donors per month over up to two years, "
        "the month highlighted, the previous record marked, and the running goal's progress.",
    )
    p.add_argument("--month", type=month_arg, metavar="YYYY-MM", help="default: the last complete month")
    p.add_argument("--locale", help="fr, en, ... (default: the project's)")
    p.add_argument("--output", "-o", type=Path, required=True, metavar="FILE", help="the PNG to write")
    p.set_defaults(func=cmd_chart)


def cmd_chart(args: argparse.Namespace) -> int:
    config = load(args)
    locale = args.locale or config.project.locale
    problem = locale_problem(locale) if args.locale else None
    if problem:
        return fail(f"--locale: {problem}", EXIT_CONFIG)
    output: Path = args.output

    pictures: list[Image] = []

    async def body(core: Core) -> int:
        month = args.month or core.last_complete_month()
        image = await core.chart(month, locale)
        if image is None:
            return fail(f"no donations recorded up to {month}: there is nothing to draw yet")
        pictures.append(image)
        return 0

    code = with_core(args, body, config)
    if code or not pictures:
        return code
    image = pictures[0]
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.partial")
        partial.write_bytes(image.data)  # a full disk leaves no half-written picture behind
        partial.replace(output)
    except OSError as exc:
        with contextlib.suppress(OSError, UnboundLocalError):
            partial.unlink()
        return fail(f"cannot write {output}: {exc.strerror or exc}")
    print(f"{output} ({image.width}×{image.height} PNG)")
    return 0
