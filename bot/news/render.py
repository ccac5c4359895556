"""Jinja2 templates (Markdown source) to platform-neutral messages.

Templates run in Jinja2's sandbox. Every value a template prints is treated as
untrusted and escaped (see bot.news.untrusted) unless it is :class:`Md`, which
only the formatting helpers here and the maintainer's own news file produce.
A maintainer's folder (``news.templates_dir``) overrides any packaged template.
"""

from __future__ import annotations

import gettext as gettext_module
import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from bot import i18n
from bot.chat.message import Attachment, Image, Message, Section
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
        if (candidate / "bulletin.md.j2").is_file():
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


_CAPITALISED = ("in_month", "month")
_SENTENCE_START = re.compile(r"(^|[.!?…]\s+)%\((in_month|month)\)s")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Wording:
    """The formatting helpers a template sees as ``f``, bound to one locale and its catalogue.

    ``locale`` formats (``fr_CA``); ``rules`` is the catalogue's language (``fr``), whose
    plural and ordinal rules apply; ``t`` holds its texts.
    """

    locale: str
    base_currency: str
    t: gettext_module.NullTranslations = field(default_factory=gettext_module.NullTranslations)
    rules: str = "en"

    # --- texts, for templates: the catalogue's words, the values escaped -------------------

    def _fill(self, text: str, variables: dict[str, Any]) -> Md:
        values = {key: self._value(value) for key, value in variables.items()}
        # A month that opens a sentence takes a capital ("In March 2026, ...", "Mars 2026 ..."),
        # wherever the translation puts it; nothing else is touched (never a donor's words).
        for key in _CAPITALISED:
            if key in values:
                values[f"{key}_capitalised"] = _capitalise(values[key])
        return Md(_SENTENCE_START.sub(r"\1%(\2_capitalised)s", text) % values)

    def _value(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return wording.number(value, self.locale)
        return _finalize(value)

    def gettext(self, message: str, **variables: Any) -> Md:
        return self._fill(self.t.gettext(message), variables)

    def ngettext(self, singular: str, plural: str, n: int, **variables: Any) -> Md:
        variables.setdefault("num", n)
        return self._fill(self.t.ngettext(singular, plural, n), variables)

    def pgettext(self, context: str, message: str, **variables: Any) -> Md:
        return self._fill(self.t.pgettext(context, message), variables)

    def npgettext(self, context: str, singular: str, plural: str, n: int, **variables: Any) -> Md:
        variables.setdefault("num", n)
        return self._fill(self.t.npgettext(context, singular, plural, n), variables)

    def functions(self) -> dict[str, Any]:
        """What ``{% trans %}`` and ``_()`` call in a template."""
        return {
            "_": self.gettext,
            "gettext": self.gettext,
            "ngettext": self.ngettext,
            "pgettext": self.pgettext,
            "npgettext": self.npgettext,
        }

    # --- values -----------------------------------------------------------------------------

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
        """Money given in major units (config thresholds), without cents when round: "€1,000"."""
        return Md(wording.amount(major, currency or self.base_currency, self.locale))

    def people(self, n: int) -> Md:
        """ "8 people", "more than a thousand people", as said after "donations from"."""
        return Md(wording.people(n, self.t, self.locale))

    def ordinal(self, n: int) -> Md:
        return Md(wording.ordinal(n, self.t, self.rules))

    def month(self, month: Month) -> Md:
        """A month standing alone: "March 2026", "marzo de 2026"."""
        return Md(wording.month_name(month, self.locale))

    def in_month(self, month: Month) -> Md:
        """ "in March 2026", "en mars 2026", "w marcu 2026"."""
        return Md(wording.in_month(month, self.t))

    def percent(self, value: float) -> Md:
        return Md(wording.percent(value, self.locale))

    def date(self, when: date) -> Md:
        """A day, written out: "June 30, 2026" / "30 juin 2026"."""
        return Md(wording.day(when, self.locale))

    def bar(self, percent: float, width: int = 20) -> Md:
        """The text progress bar every client shows (the same as the goal picture's)."""
        from bot.news.chart import text_progress_bar

        return Md(text_progress_bar(percent, width))

    def quoted(self, text: str | None) -> Md:
        """A donor's words between the language's quotation marks: “…”, « … », „…“."""
        return Md(wording.quoted(untrusted(text or ""), self.t))

    def quote(self, message: str | None, style: str = "") -> Md:
        """A donor's message after their name (``: “…”``); kept for maintainers' own templates."""
        if not message:
            return Md("")
        return Md(
            self.t.pgettext("a donor's message after their name", ": %(quote)s")
            % {"quote": wording.quoted(untrusted(message), self.t)}
        )

    def totals(self, report: Any) -> Md:
        """The month's total, in words people use.

        "€38,178.00"; "€38,178.00 (including $9,000.00)" when dollars were counted in at the
        configured rate; "€30,000.00 and $11,941.00" when dollars have no rate: never a sum that
        hides a currency, never a converted amount passed off as given in the base currency.
        """
        unconverted = sorted(
            code for code in (getattr(report, "unconverted", None) or []) if code in report.totals
        )
        apart = [wording.money(report.totals[code], code, self.locale) for code in unconverted]
        if report.total_base is None:
            return Md(_join(apart, self.locale))
        base = wording.money(report.total_base, self.base_currency, self.locale)
        converted = [
            wording.money(amount, code, self.locale)
            for code, amount in sorted(report.totals.items())
            if code != self.base_currency and code not in unconverted
        ]
        if converted:
            base = self.t.pgettext(
                "a total in the base currency, and the other currencies counted in it",
                "%(total)s (including %(amounts)s)",
            ) % {"total": base, "amounts": _join(converted, self.locale)}
        return Md(_join([base, *apart], self.locale))

    def name(self, text: str | None) -> Md:
        """A donor's chosen name: cleaned, defused, escaped, shorter."""
        return Md(untrusted(text or "", NAME_LENGTH))

    def link(self, label: str, url: str) -> Md:
        """A link the project configured (never one a donor gave)."""
        # The project's own label: Markdown escaped and mentions broken, but a URL used as its
        # label keeps no invisible character (copying it must give the URL). A translated label
        # (Md) is the catalogue's own text.
        safe_label = (
            label if isinstance(label, Md) else escape_markdown(defuse(clean(label, 120), links=False))
        )
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
            extensions=["jinja2.ext.i18n"],
        )
        # {% trans %} calls gettext(...) with its values as keywords (filled and escaped by Wording),
        # and a translated text is written on one line whatever its layout in the template.
        self.env.newstyle_gettext = True  # type: ignore[attr-defined]
        self.env.policies["ext.i18n.trimmed"] = True

    def _template(self, locale: str, name: str) -> jinja2.Template:
        """A maintainer's ``fr_CA/NAME`` or ``fr/NAME`` or ``NAME``, else the packaged ``NAME``."""
        language = locale.split("_")[0]
        candidates = [f"{locale}/{name}", f"{language}/{name}", name]
        try:
            return self.env.select_template(list(dict.fromkeys(candidates)))
        except jinja2.TemplateNotFound as exc:
            raise RenderError(f"no template {name} for locale {locale}") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(_describe(exc, None)) from exc

    def wording(self, locale: str) -> Wording:
        """The helpers for ``locale``; RenderError if no catalogue speaks its language."""
        try:
            found = i18n.resolve(locale)
        except i18n.UnsupportedLocale as exc:
            raise RenderError(str(exc)) from None
        return Wording(found.locale, self.config.project.base_currency, i18n.translations(found.catalogue),
                       found.catalogue)  # fmt: skip

    def _context(self, locale: str) -> dict[str, Any]:
        project = self.config.project
        f = self.wording(locale)
        return {
            "project": {"name": project.name, "donate_urls": list(project.donate_urls)},
            "f": f,
            "locale": f.locale,
            **f.functions(),
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

    def bulletin(
        self,
        report: Any,
        locale: str,
        *,
        news: str | None,
        image: Image | None = None,
        everyone: list[Any] | None = None,
    ) -> Message:
        """The month's bulletin; ``everyone`` (all who chose to be named) goes along as a file when
        the bulletin's own list (``report.public_donations``) had to be cut."""
        context = self._context(locale)
        title_month = report.month.next()
        listed = report.public_donations
        attach = everyone is not None and report.public_count > len(listed) and len(everyone) > len(listed)
        context.update(
            report=report,
            month=report.month,
            title_month=title_month,
            news=Md(news) if news else None,
            donors=listed,
            sponsors=[d for d in listed if d.organisation],
            people=[d for d in listed if not d.organisation],
            has_image=image is not None,
            list_attached=attach,
        )
        template = self._template(locale, "bulletin.md.j2")
        markdown = self._render(template, context)
        title = self._render(template, context, block="title").strip() if "title" in template.blocks else ""
        attachments: tuple[Attachment, ...] = ()
        if attach and everyone is not None and "named_list" in template.blocks:
            context.update(everyone=everyone)
            listing = _tidy(self._render(template, context, block="named_list"))
            filename = context["f"].pgettext(
                "file name of the full list of named donors",
                "named-donors-%(month)s.txt",
                month=str(report.month),
            )
            attachments = (
                Attachment(
                    filename=str(filename).replace("/", "-"),
                    data=(to_text(to_html(listing)) + "\n").encode("utf-8"),
                    mime="text/plain; charset=utf-8",
                    description=to_text(to_html(listing.splitlines()[0])) if listing else "",
                ),
            )
        message = self.message(markdown, title=title, image=image)
        return replace(message, attachments=attachments) if attachments else message

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
