"""The core's subcommands: demo, stats, preview, add, import, check-config."""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.cli.common import EXIT_CONFIG, fail, load, locale_problem, month_arg, print_json, with_core
from bot.config import Config, ConfigError, load_config
from bot.ledger.models import DonorKind, NewDonation
from bot.ledger.pseudonym import donor_identity
from bot.money import MoneyError, is_currency, parse_amount, to_decimal
from bot.months import Month
from bot.news import wording

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="build a demo ledger and print its latest bulletin (en, fr) and report")
    p.add_argument(
        "--output", type=Path, default=Path("donorbot-demo"), help="folder (default ./donorbot-demo)"
    )
    p.add_argument("--month", type=month_arg, help="the month to report (default: the last complete month)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("stats", help="a month's figures (default: the last complete month)")
    p.add_argument("--month", type=month_arg)
    p.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("preview", help="print a month's bulletin")
    p.add_argument("--month", type=month_arg)
    p.add_argument("--locale", help="en, fr, de, es, it, pt_BR, nl, pl... (default: the project's)")
    p.add_argument("--format", choices=("markdown", "text", "html"), default="markdown")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("add", help="record an offline donation (cheque, cash at an event)")
    p.add_argument("--amount", required=True, help="e.g. 25.00")
    p.add_argument("--currency", required=True, help="ISO 4217 code, e.g. EUR")
    p.add_argument(
        "--donor",
        help="an email or an identifier (a membership number...), to recognise the donor next time; "
        "the same id as in the `donor` column of `import csv` is the same person",
    )
    p.add_argument(
        "--donor-namespace",
        default="csv",
        metavar="NAME",
        help="whose ids --donor uses when it is not an email (default: csv, your own records, shared "
        "with `import csv`; a platform name, e.g. liberapay, for a platform's id)",
    )
    p.add_argument("--name", help="the name to thank publicly (needs --public)")
    p.add_argument("--public", action="store_true", help="the donor agreed to be named")
    p.add_argument("--message", help="the donor's public message (needs --public)")
    p.add_argument("--date", help="YYYY-MM-DD (default: today)")
    p.add_argument("--recurring", action="store_true")
    p.add_argument("--org", action="store_true", help="the donor is an organisation")
    p.add_argument("--id", help="an id of your own; recording the same id twice stores it once")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("import", help="import a donations file: csv (native) or a platform's export")
    p.add_argument("platform", help="csv, opencollective, liberapay, github-sponsors, paypal, kofi")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="read and check everything against a temporary copy of the ledger; write nothing",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid rows; write the rejected ones, with why, to FILE.rejected.csv "
        "(readable by you only; fix it and import it again as it is)",
    )
    order = p.add_mutually_exclusive_group()
    order.add_argument(
        "--day-first",
        dest="date_order",
        action="store_const",
        const="day",
        help="native csv: read dates like 01/12/2025 as day/month/year",
    )
    order.add_argument(
        "--month-first",
        dest="date_order",
        action="store_const",
        const="month",
        help="native csv: read dates like 12/01/2025 as month/day/year",
    )
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("check-config", help="validate the configuration and the secrets it names")
    p.set_defaults(func=cmd_check_config)


# --- demo ------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import DEMO_KEY, demo_config_text, demo_donations

    folder: Path = args.output.resolve()
    end: Month = args.month or Month.parse(datetime.now(UTC).strftime("%Y-%m")).prev()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "news").mkdir(exist_ok=True)
    config_path = folder / "config.toml"
    config_path.write_text(demo_config_text(folder, end), encoding="utf-8")
    (folder / "news" / f"{end}.md").write_text(_DEMO_NEWS, encoding="utf-8")
    for language, news in _DEMO_NEWS_BY_LANGUAGE.items():
        (folder / "news" / f"{end}.{language}.md").write_text(news, encoding="utf-8")
    for leftover in folder.glob("demo.sqlite3*"):
        leftover.unlink()
    os.environ["DONORBOT_DEMO_PSEUDONYM_KEY"] = DEMO_KEY
    config = load_config(config_path)

    async def body(core: Any) -> int:
        result = await core.ledger.write(demo_donations(end))
        print(
            f"Demo ledger: {config.ledger_path} ({result.inserted} donations over 30 months,"
            f" {result.refunds_applied} refunded). Configuration: {config_path}",
            file=sys.stderr,
        )
        for locale in ("fr", "en"):
            bulletin = await core.bulletin(end, locale)
            print(f"\n{'=' * 30} {locale} {'=' * 30}\n")
            print(bulletin.markdown)
            if bulletin.image is not None:
                picture = folder / f"chart-{end}-{locale}.png"
                picture.write_bytes(bulletin.image.data)
                print(f"\n[chart: {picture}]")
        print(f"\n{'=' * 30} JSON {'=' * 30}\n")
        print_json((await core.report(end)).to_json())
        return 0

    return with_core(args, body, config)


_DEMO_NEWS = """### A new release

Version 3.0 is out, with a redesigned settings window and faster start-up. Thank you to everyone
who tested the betas!

### Meet us

We will be at the community conference in March: come and say hello at our stand.
"""

# The demo's news in every language the bulletins speak, so that each preview is in one language.
_DEMO_NEWS_BY_LANGUAGE = {
    "fr": """### Une nouvelle version

La version 3.0 est sortie\u202f: une fenêtre de réglages repensée et un démarrage plus rapide. Merci à
toutes celles et ceux qui ont testé les bêtas\u202f!

### Venez nous voir

Nous serons à la conférence communautaire en mars\u202f: passez nous dire bonjour sur notre stand.
""",
    "de": """### Eine neue Version

Version 3.0 ist da, mit einem überarbeiteten Einstellungsfenster und schnellerem Start. Danke an alle,
die die Betaversionen getestet haben!

### Besucht uns

Im März sind wir auf der Community-Konferenz: Kommt an unserem Stand vorbei und sagt Hallo.
""",
    "es": """### Una nueva versión

Ya está disponible la versión 3.0, con una ventana de ajustes rediseñada y un arranque más rápido.
¡Gracias a todas las personas que probaron las betas!

### Ven a vernos

En marzo estaremos en la conferencia de la comunidad: pasa a saludarnos por nuestro stand.
""",
    "it": """### Una nuova versione

È uscita la versione 3.0, con una finestra delle impostazioni riprogettata e un avvio più rapido.
Grazie a tutte le persone che hanno provato le beta!

### Venite a trovarci

A marzo saremo alla conferenza della comunità: passate a salutarci al nostro stand.
""",
    "pt_BR": """### Uma nova versão

A versão 3.0 chegou, com uma janela de configurações redesenhada e uma inicialização mais rápida.
Obrigado a todo mundo que testou as versões beta!

### Venha nos ver

Em março estaremos na conferência da comunidade: passe no nosso estande para dizer oi.
""",
    "nl": """### Een nieuwe versie

Versie 3.0 is uit, met een vernieuwd instellingenvenster en een snellere start. Dank aan iedereen
die de bètaversies heeft getest!

### Kom langs

In maart staan we op de communityconferentie: kom gerust even hallo zeggen bij onze stand.
""",
    "pl": """### Nowa wersja

Wersja 3.0 jest już dostępna: ma odświeżone okno ustawień i szybciej się uruchamia. Dziękujemy
wszystkim, którzy testowali wersje beta!

### Odwiedź nas

W marcu będziemy na konferencji społeczności: wpadnij przywitać się przy naszym stoisku.
""",
}


# --- stats and preview -----------------------------------------------------------------------


def cmd_stats(args: argparse.Namespace) -> int:
    async def body(core: Any) -> int:
        month = args.month or core.last_complete_month()
        report = await core.report(month)
        if args.json:
            print_json(report.to_json())
            return 0
        _print_table(core.config, report)
        return 0

    return with_core(args, body)


def _print_table(config: Config, report: Any) -> None:
    """The figures as a table whose labels and values speak the project's language."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from bot import i18n

    found = i18n.resolve(config.project.locale)
    locale, t = found.locale, i18n.translations(found.catalogue)
    base = report.base_currency

    def money(minor: int | None, code: str = base) -> str:
        return "–" if minor is None else wording.money(minor, code, locale)

    def count(n: int) -> str:
        return wording.number(n, locale)

    def change(delta: int | None, as_money: bool = False) -> str:
        if not delta:
            return ""
        shown = wording.money(abs(delta), base, locale) if as_money else count(abs(delta))
        signed = ("+" if delta > 0 else "−") + shown
        return t.pgettext("stats table", "%(change)s on the month before") % {"change": signed}

    records = {
        "donors": t.pgettext("stats table: a record", "most donors in a month"),
        "total": t.pgettext("stats table: a record", "largest total in a month"),
        "donors_year": t.pgettext("stats table: a record", "most donors this year"),
        "total_year": t.pgettext("stats table: a record", "largest total this year"),
    }

    def milestone(m: Any) -> str:
        n = int(m.threshold)
        if m.kind == "monthly_donors":
            return t.ngettext("%(num)s donor in one month", "%(num)s donors in one month", n) % {
                "num": count(n)
            }
        if m.kind == "total_donors":
            text = t.ngettext("%(num)s donor since the beginning", "%(num)s donors since the beginning", n)
            return text % {"num": count(n)}
        return t.gettext("%(amount)s given in all") % {"amount": wording.amount(m.threshold, base, locale)}

    joined = ", ".join
    title = f"{config.project.name} – {wording.month_name(report.month, locale)}"
    table = Table(title=escape(title), show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("", justify="left")
    total_note = change(report.total_vs_previous.delta, as_money=True) if report.total_vs_previous else ""
    if report.unconverted:
        apart = t.pgettext("stats table", "without %(currencies)s: no exchange rate") % {
            "currencies": joined(report.unconverted)
        }
        total_note = f"{total_note} ({apart})".strip()
    rows: list[tuple[str, str, str]] = [
        (t.pgettext("stats table", "Donors"), count(report.donors), change(report.donors_vs_previous.delta)),
        ("  " + t.pgettext("stats table", "new"), count(report.new_donors), ""),
        ("  " + t.pgettext("stats table", "returning"), count(report.returning_donors), ""),
        ("  " + t.pgettext("stats table", "anonymous"), count(report.anonymous), ""),
        ("  " + t.pgettext("stats table", "recurring"), count(report.recurring_donors), ""),
        ("  " + t.pgettext("stats table", "organisations"), count(report.organisations), ""),
        (t.pgettext("stats table", "Donations"), count(report.donations), ""),
    ]
    for code, amount in sorted(report.totals.items()):
        rows.append(
            (t.pgettext("stats table", "Given in %(currency)s") % {"currency": code}, money(amount, code), "")
        )
    rows += [
        (
            t.pgettext("stats table", "Total in %(currency)s") % {"currency": base},
            money(report.total_base),
            total_note,
        ),
        (t.pgettext("stats table", "Median donation"), money(report.median_base), ""),
        (t.pgettext("stats table", "Largest donation"), money(report.largest_base), ""),
        (
            t.pgettext("stats table", "Donors a year before"),
            count(report.donors_vs_year_ago.previous or 0),
            "",
        ),
        (t.pgettext("stats table", "Records"), joined(records.get(r, r) for r in report.records) or "–", ""),
        (t.pgettext("stats table", "Milestones"), joined(milestone(m) for m in report.milestones) or "–", ""),
    ]
    for goal in report.goals:
        rows.append((t.pgettext("stats table", "Goal"), wording.percent(goal.percent, locale), goal.title))
    rows.append((t.pgettext("stats table", "Donors since the beginning"), count(report.all_time_donors), ""))
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    Console().print(table)


def cmd_preview(args: argparse.Namespace) -> int:
    locale = args.locale or None
    if locale is not None:
        problem = locale_problem(locale)
        if problem:
            return fail(f"--locale: {problem}", EXIT_CONFIG)

    async def body(core: Any) -> int:
        month = args.month or core.last_complete_month()
        locale = args.locale or core.config.project.locale
        bulletin = await core.bulletin(month, locale, image=False)
        print({"markdown": bulletin.markdown, "text": bulletin.text, "html": bulletin.html}[args.format])
        return 0

    return with_core(args, body)


# --- add and import --------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace) -> int:
    from bot.sources.native_csv import parse_when

    config = load(args)
    currency = args.currency.strip().upper()
    if not is_currency(currency):
        return fail(f"--currency: {args.currency!r} is not an ISO 4217 code (e.g. EUR)")
    try:
        amount = parse_amount(args.amount, currency)
    except MoneyError as exc:
        return fail(f"--amount: {exc}")
    if amount == 0:
        return fail("--amount: must be more than zero")
    if (args.name or args.message) and not args.public:
        return fail("--name and --message are shown publicly: add --public if the donor agreed")
    try:
        when = parse_when(args.date, config.project.tz) if args.date else datetime.now(UTC)
    except ValueError as exc:
        return fail(f"--date: {args.date!r}: {exc}")
    donor = (args.donor or "").strip()
    namespace = args.donor_namespace.strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", namespace):
        return fail(f"--donor-namespace: {args.donor_namespace!r} is not a source name (e.g. csv, liberapay)")
    donation = NewDonation(
        source="manual",
        external_id=args.id or f"manual-{uuid.uuid4().hex}",
        amount=amount,
        currency=currency,
        received_at=when,
        # The maintainer's own records, by hand or by file, know a member by one id.
        donor_id=donor_identity(namespace, donor or None, donor if "@" in donor else None),
        public=args.public,
        display_name=args.name,
        message=args.message,
        recurring=args.recurring,
        kind=DonorKind.ORGANISATION if args.org else DonorKind.PERSON,
    )

    async def body(core: Any) -> int:
        result = await core.ledger.write([donation])
        local = when.astimezone(config.project.tz).date().isoformat()
        shown = f"{to_decimal(amount, currency)} {currency} on {local}"
        if result.inserted:
            print(f"recorded {shown} (id {donation.external_id})")
        else:
            print(f"already recorded: {shown} (id {donation.external_id})")
        return 0

    return with_core(args, body, config)


def cmd_import(args: argparse.Namespace) -> int:
    from bot.sources.native_csv import NativeCsvImporter
    from bot.sources.pipeline import copy_ledger
    from bot.sources.registry import IMPORTERS

    config = load(args)
    importer = IMPORTERS.get(args.platform)
    if importer is None:
        return fail(f"unknown platform {args.platform!r} (known: {', '.join(sorted(IMPORTERS))})")
    if not args.file.is_file():
        return fail(f"{args.file}: no such file")
    if args.date_order is not None:
        if not isinstance(importer, NativeCsvImporter):
            return fail(
                f"--{args.date_order}-first is for the native csv; {args.platform} dates are read as the platform writes them"
            )
        importer = importer.with_date_order(args.date_order)
    if args.dry_run:
        # Nothing is created, migrated or written where the ledger lives: the import runs
        # against a copy in a private temporary folder, deleted at the end.
        with tempfile.TemporaryDirectory(prefix="donorbot-dry-run-") as folder:
            scratch = Path(folder) / "ledger.sqlite3"
            try:
                copy_ledger(config.ledger_path, scratch)
            except (OSError, sqlite3.Error) as exc:
                return fail(f"{config.ledger_path}: cannot read the ledger: {exc}")
            ledger = config.ledger.model_copy(update={"path": scratch})
            return _import(args, config.model_copy(update={"ledger": ledger}), importer)
    return _import(args, config, importer)


def _import(args: argparse.Namespace, config: Config, importer: Any) -> int:
    from bot.sources.pipeline import ImportFailed, count_lines, import_file

    async def body(core: Any) -> int:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        total = count_lines(args.file)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
            disable=not sys.stderr.isatty() or total < 5000,
            console=Console(stderr=True),  # the summary goes to stdout, which may be a file
        ) as progress:
            task = progress.add_task("importing", total=total)

            def finishing(bulk: bool) -> None:
                what = "building indexes and monthly figures" if bulk else "updating monthly figures"
                progress.update(task, description=what, completed=total, refresh=True)

            try:
                summary = await import_file(
                    core.ledger,
                    importer,
                    args.file,
                    config.project.tz,
                    dry_run=args.dry_run,
                    skip_invalid=args.skip_invalid,
                    progress=lambda line: progress.update(task, completed=line),
                    expected_rows=total,
                    finishing=finishing,
                )
            except ImportFailed as exc:
                for line in exc.errors:
                    print(line, file=sys.stderr)
                if exc.more:
                    print(f"... and {exc.more} more", file=sys.stderr)
                if exc.rows and not args.skip_invalid:
                    hint = "nothing was imported (fix the rows, or use --skip-invalid to import the rest)"
                else:
                    hint = "nothing was imported"
                print(hint, file=sys.stderr)
                return 1
        for line in summary.lines():
            print(line)
        return 0

    return with_core(args, body, config)


# --- check-config ----------------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    """The verdict ``run`` would give (:func:`bot.validation.validate`), with its warnings."""
    from bot.config import default_config_path
    from bot.validation import CHECKER, validate

    path = default_config_path(args.config)
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    verdict = validate(config, CHECKER)
    for warning in verdict.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if verdict.errors:
        for problem in verdict.errors:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    targets = ", ".join(f"{t.name} ({t.platform})" for t in config.targets) or "none"
    print(f"{path}: OK")
    print(f"  project: {config.project.name} ({config.project.timezone}, {config.project.locale})")
    print(f"  ledger: {config.ledger_path}")
    print(f"  targets: {targets}")
    pulled = config.sources.configured()
    if pulled:
        every = ", ".join(
            f"{key.replace('_', '-')} (every {s.interval_minutes:g} min)" for key, s in pulled.items()
        )
        print(f"  sync: {every}")
    return 0
