"""Languages: which catalogues donorbot has, how a configured locale finds one, and its texts.

Texts are written in English in the code and templates (the gettext msgids) and
translated in ``bot/locales/<lang>/LC_MESSAGES/donorbot.po``. The build compiles
each ``.po`` into a ``.mo`` beside it (see ``hatch_build.py``); a source tree
whose ``.mo`` is missing or older than its ``.po`` compiles it in memory at
first use, so a translator sees an edit without rebuilding.

A locale (``fr_CA``) keeps its own formats for numbers, money and dates; its
texts come from the catalogue of the same name, else from the only catalogue of
its language (``fr_CA`` -> ``fr``, ``pt_PT`` -> ``pt_BR``), with a warning. A
locale with no catalogue of its language is refused: a bulletin is never half
in one language and half in another.
"""

from __future__ import annotations

import gettext
import io
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError

__all__ = [
    "DOMAIN",
    "LOCALES_DIR",
    "N_",
    "SOURCE_LANGUAGE",
    "Resolved",
    "UnsupportedLocale",
    "available",
    "resolve",
    "texts",
    "translations",
]

DOMAIN = "donorbot"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
SOURCE_LANGUAGE = "en"  # the msgids' language: it needs no catalogue
log = logging.getLogger(__name__)


class UnsupportedLocale(ValueError):
    """No catalogue speaks this locale's language; the message names the ones that exist."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """``locale`` formats numbers and dates; ``catalogue`` gives the words; ``note`` says a fallback."""

    locale: str
    catalogue: str
    note: str | None = None


def _folder(name: str) -> Path:
    return LOCALES_DIR / name / "LC_MESSAGES"


@cache
def available() -> tuple[str, ...]:
    """The catalogues donorbot has (``en`` always: it is the source), sorted."""
    names = {SOURCE_LANGUAGE}
    if LOCALES_DIR.is_dir():
        for child in LOCALES_DIR.iterdir():
            folder = _folder(child.name)
            if (folder / f"{DOMAIN}.po").is_file() or (folder / f"{DOMAIN}.mo").is_file():
                names.add(child.name)
    return tuple(sorted(names))


def _language(name: str) -> str:
    return name.split("_")[0].lower()


def resolve(locale: str) -> Resolved:
    """The catalogue for ``locale``; :class:`UnsupportedLocale` if none speaks its language."""
    normal = locale.strip().replace("-", "_")
    try:
        parsed = Locale.parse(normal)
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise UnsupportedLocale(
            f"{locale!r} is not a locale (languages available: {', '.join(available())})"
        ) from exc
    normal = str(parsed)
    names = available()
    for name in names:
        if name.lower() == normal.lower():
            return Resolved(normal, name)
    same = [name for name in names if _language(name) == parsed.language]
    if not same:
        raise UnsupportedLocale(
            f"{locale!r}: donorbot has no texts in {Locale.parse(parsed.language).english_name} "
            f"(languages available: {', '.join(names)}; adding one is a .po file, see the README)"
        )
    # Prefer the language's own catalogue (fr for fr_CA), else its only regional one (pt_BR for pt_PT).
    chosen = parsed.language if parsed.language in same else same[0]
    if parsed.language == SOURCE_LANGUAGE or _same_region(parsed, chosen):
        return Resolved(normal, chosen)  # fr_FR is what fr is written in; en is the source
    note = f"no catalogue for {normal}: its texts are those of {chosen} ({Locale.parse(chosen).english_name})"
    return Resolved(normal, chosen, note)


def _same_region(parsed: Locale, catalogue: str) -> bool:
    """fr_FR and fr, de_DE and de: the catalogue is written for the locale's own region."""
    from babel.core import get_global

    if not parsed.territory:
        return True
    likely = str(get_global("likely_subtags").get(catalogue, catalogue))
    return likely.split("_")[-1] == parsed.territory


def _compile(po: Path) -> gettext.GNUTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle, locale=po.parent.parent.name, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@cache
def translations(catalogue: str) -> gettext.NullTranslations:
    """The texts of one catalogue (a name from :func:`available`)."""
    if catalogue == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    folder = _folder(catalogue)
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    if po.is_file():
        log.debug("compiling %s in memory (no up-to-date %s)", po, mo.name)
        return _compile(po)
    raise UnsupportedLocale(f"no catalogue named {catalogue!r} (available: {', '.join(available())})")


def texts(locale: str | None) -> gettext.NullTranslations:
    """The texts for ``locale`` where a wrong one must not stop an answer (a chat user's language):
    its catalogue, else English."""
    try:
        return translations(resolve(locale or SOURCE_LANGUAGE).catalogue)
    except UnsupportedLocale:
        return translations(SOURCE_LANGUAGE)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogues; it is translated where it is shown."""
    return message
