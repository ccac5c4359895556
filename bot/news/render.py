"""Jinja2 templates (Markdown source) to platform-neutral messages.

Templates run in Jinja2's sandbox. Every value a template prints is treated as
untrusted and escaped (see bot.news.untrusted) unless it is :class:`Md`, which
only the formatting helpers here and the maintainer's own news file produce.
A maintainer's folder (``news.templates_dir``) overrides any packaged template.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from bot.chat.message import Image, Message, Section
from bot.config import Config
from bot.months import Month
from bot.news import wording
from bot.news.markup import paragraphs, split_sections, to_html, to_text
from bot.news.untrusted import NAME_LENGTH, clean, defuse, escape_markdown, untrusted

__all__ = ["Md", "RenderError", "Renderer", "packaged_templates"]


class Md(str):
    """Markdown the project wrote itself: printed as is."""

    __slots__ = ()


class RenderError(Exception):
    """A template is broken: the message names the template and the line."""


def packaged_templates() -> Path:
    """Templates shipped with donorbot: inside the wheel, or the source tree's top-level folder."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "en" / "bulletin.md.j2").is_file():
            return candidate
    raise RenderError(f"donorbot's templates are missing (looked in {here / 'templates'})")


def _finalize(value: Any) -> str:
    if isinstance(value, Md):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | Decimal):
        return str(value)
    return untrusted(str(value))


@dataclass(frozen=True)
class Wording:
    """The formatting helpers a template sees as ``f``, bound to one locale."""

    locale: str
    base_currency: str

    def number(self, value: int | Decimal) -> Md:
        return Md(wording.number(value, self.locale))

    def money(self, minor: int | None, currency: str | None = None) -> Md:
        if minor is None:
            return Md("")
        return Md(wording.money(minor, currency or self.base_currency, self.locale))

    def amounts(self, minor_by_currency: dict[str, int]) -> Md:
        """Amounts in several currencies, as a list: "$50.00 and £20.00" / "50,00 $US et 20,00 £GB"."""
        money = [
            wording.money(amount, code, self.locale) for code, amount in sorted(minor_by_currency.items())
        ]
        return Md(_join(money, self.locale) if money else "")

    def amount(self, major: Decimal | int, currency: str | None = None) -> Md:
        """Money given in major units (config thresholds)."""
        from babel.numbers import format_currency

        return Md(str(format_currency(major, currency or self.base_currency, locale=self.locale)))

    def people(self, n: int) -> Md:
        return Md(wording.people(n, self.locale))

    def ordinal(self, n: int) -> Md:
        return Md(wording.ordinal(n, self.locale))

    def month(self, month: Month) -> Md:
        return Md(wording.month_name(month, self.locale))

    def percent(self, value: float) -> Md:
        return Md(wording.percent(value, self.locale))

    def date(self, when: date) -> Md:
        """A day, written out: "June 30, 2026" / "30 juin 2026"."""
        return Md(wording.day(when, self.locale))

    def bar(self, percent: float, width: int = 20) -> Md:
        """The text progress bar every client shows (the same as the goal picture's)."""
        from bot.news.chart import text_progress_bar

        return Md(text_progress_bar(percent, width))

    def quote(self, message: str | None, style: str = "en") -> Md:
        """A donor's public message after their name: ``: “…”`` (en) or `` : « … »`` (fr)."""
        if not message:
            return Md("")
        text = untrusted(message)
        return Md(f" : « {text} »" if style == "fr" else f": “{text}”")

    def totals(self, report: Any) -> Md:
        """The month's total in the base currency, saying what was converted and what was not.

        "€38,178.00"; "€38,178.00 (including $9,000.00 converted at the configured rates)";
        "€30,000.00 + $11,941.00 (no exchange rate configured for USD)": never a sum that
        hides a currency, never a converted amount passed off as given in the base currency.
        """
        french = self.locale.startswith("fr")
        unconverted = sorted(
            code for code in (getattr(report, "unconverted", None) or []) if code in report.totals
        )
        if report.total_base is None:
            parts = [wording.money(report.totals[code], code, self.locale) for code in unconverted]
        else:
            base = wording.money(report.total_base, self.base_currency, self.locale)
            converted = [
                wording.money(amount, code, self.locale)
                for code, amount in sorted(report.totals.items())
                if code != self.base_currency and code not in unconverted
            ]
            if converted:
                joined = _join(converted, self.locale)
                base += (
                    f" (dont {joined} convertis aux taux configurés)"
                    if french
                    else f" (including {joined} converted at the configured rates)"
                )
            parts = [base] + [wording.money(report.totals[code], code, self.locale) for code in unconverted]
        text = " + ".join(parts)
        if unconverted:
            codes = _join(unconverted, self.locale)
            text += (
                f" (aucun taux de change configuré pour {codes})"
                if french
                else f" (no exchange rate configured for {codes})"
            )
        return Md(text)

    def name(self, text: str | None) -> Md:
        """A donor's chosen name: cleaned, defused, escaped, shorter."""
        return Md(untrusted(text or "", NAME_LENGTH))

    def link(self, label: str, url: str) -> Md:
        """A link the project configured (never one a donor gave)."""
        # The project's own label: Markdown escaped and mentions broken, but a URL used as its
        # label keeps no invisible character (copying it must give the URL).
        safe_label = escape_markdown(defuse(clean(label, 120), links=False))
        safe_url = clean(url, 2000).replace(")", "%29").replace(" ", "%20")
        return Md(f"[{safe_label}]({safe_url})")


class Renderer:
    """Renders bulletins and replies for every locale."""

    def __init__(self, config: Config) -> None:
        self.config = config
        loaders: list[jinja2.BaseLoader] = []
        if config.templates_dir is not None:
            loaders.append(jinja2.FileSystemLoader(config.templates_dir))
        loaders.append(jinja2.FileSystemLoader(packaged_templates()))
        self.env = SandboxedEnvironment(
            loader=jinja2.ChoiceLoader(loaders),
            finalize=_finalize,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,
        )

    def _template(self, locale: str, name: str) -> jinja2.Template:
        """``fr_CA/bulletin.md.j2``, else ``fr/...``, else ``en/...``."""
        language = locale.split("_")[0]
        candidates = [f"{locale}/{name}", f"{language}/{name}", f"en/{name}"]
        try:
            return self.env.select_template(list(dict.fromkeys(candidates)))
        except jinja2.TemplateNotFound as exc:
            raise RenderError(f"no template {name} for locale {locale}") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(_describe(exc, None)) from exc

    def _context(self, locale: str) -> dict[str, Any]:
        project = self.config.project
        return {
            "project": {"name": project.name, "donate_urls": list(project.donate_urls)},
            "f": Wording(locale, project.base_currency),
            "locale": locale,
        }

    def check(self) -> list[str]:
        """Compile every template of the maintainer's folder: one problem per broken template.

        Catches syntax errors before the day a bulletin is due; an undefined name or a
        sandbox violation only shows when the template runs (``donorbot preview``).
        """
        folder = self.config.templates_dir
        if folder is None:
            return []
        problems = []
        for name in jinja2.FileSystemLoader(folder).list_templates():
            if not name.endswith(".j2"):
                continue
            try:
                self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(_describe(exc, None))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"template {Path(folder) / name}: cannot be read ({exc})")
        return problems

    def _render(self, template: jinja2.Template, context: dict[str, Any], block: str | None = None) -> str:
        if block is not None and block not in template.blocks:
            raise RenderError(f"template {template.filename or template.name}: no block {block!r}")
        try:
            if block is None:
                return template.render(context)
            try:
                return "".join(template.blocks[block](template.new_context(context)))
            except Exception:
                # What render() does for a whole template: point the traceback at template lines.
                self.env.handle_exception()
        # Whatever a maintainer's template does wrong (a syntax error in an include, an undefined
        # name, a sandbox violation, a division by zero) is their error to fix, not a crash.
        except Exception as exc:
            raise RenderError(_describe(exc, template)) from exc

    def message(self, markdown: str, *, title: str = "", image: Image | None = None) -> Message:
        markdown = _tidy(markdown)
        html = to_html(markdown)
        cuts = split_sections(markdown)
        sections: tuple[Section, ...] = ()
        if len(cuts) > 1:
            sections = tuple(_section(heading, part) for heading, part in cuts)
        return Message(
            markdown=markdown,
            text=to_text(html),
            html=html,
            image=image,
            title=title,
            paragraphs=paragraphs(markdown),
            sections=sections,
        )

    def bulletin(self, report: Any, locale: str, *, news: str | None, image: Image | None = None) -> Message:
        context = self._context(locale)
        title_month = report.month.next()
        context.update(
            report=report,
            month=report.month,
            title_month=title_month,
            news=Md(news) if news else None,
            donors=report.public_donations,
            sponsors=[d for d in report.public_donations if d.organisation],
            people=[d for d in report.public_donations if not d.organisation],
            has_image=image is not None,
        )
        template = self._template(locale, "bulletin.md.j2")
        markdown = self._render(template, context)
        title = self._render(template, context, block="title").strip() if "title" in template.blocks else ""
        return self.message(markdown, title=title, image=image)

    def reply(self, name: str, locale: str, *, image: Image | None = None, **values: Any) -> Message:
        """One block of ``replies.md.j2`` (``donors``, ``goal``, ``help``...)."""
        context = self._context(locale)
        context.update(values)
        template = self._template(locale, "replies.md.j2")
        return self.message(self._render(template, context, block=name), image=image)


def _section(heading: str, markdown: str) -> Section:
    html = to_html(markdown)
    return Section(heading, markdown, to_text(html), html, paragraphs(markdown))


def _describe(exc: BaseException, template: jinja2.Template | None) -> str:
    """``template FILE:LINE: problem`` for an error raised while loading or running a template."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = exc.filename or exc.name or (template.filename if template else None) or "?"
        return f"template {where}:{exc.lineno}: {exc.message}"
    where = (template.filename or template.name or "?") if template else "?"
    line = None
    # Jinja rewrites the traceback so that template frames carry the template's file and line.
    tb = exc.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            where, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, jinja2.TemplateNotFound):
        problem = f"no template named {exc.name!r}"
    elif isinstance(exc, jinja2.exceptions.SecurityError):
        problem = f"not allowed in a template: {exc}"
    elif isinstance(exc, jinja2.TemplateError):
        problem = str(exc)
    else:
        problem = f"{type(exc).__name__}: {exc}"
    return f"template {where}{f':{line}' if line else ''}: {problem}"


def _join(items: list[str], locale: str) -> str:
    from babel.lists import format_list

    return str(format_list(items, locale=locale))


def _tidy(markdown: str) -> str:
    lines = [line.rstrip() for line in markdown.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out)


def news_items(config: Config, month: Month, locale: str) -> str | None:
    """The maintainer's news for ``month``: ``news/2025-12.fr.md``, else ``news/2025-12.md``.

    It is the maintainer's own Markdown, printed as written, except that mentions
    are defused (a pasted ``@everyone`` must not ping a whole community).
    """
    folder = config.news_dir
    language = locale.split("_")[0]
    for name in (f"{month}.{locale}.md", f"{month}.{language}.md", f"{month}.md"):
        path = folder / name
        if path.is_file():
            text = path.read_text(encoding="utf-8").strip()
            return defuse(text, links=False) if text else None
    return None
