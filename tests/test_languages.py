"""The languages donorbot speaks: catalogues complete, compiling and up to date with the code;
each of the eight languages' previews (the demo month, a one-donor month) in that language
only; French typography; a locale without a catalogue refused by check-config and preview;
the stats table in one language; money as CLDR writes it; slash-command names Discord accepts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot import i18n
from bot.news import wording

REPO = Path(__file__).resolve().parents[1]
LOCALES = REPO / "bot" / "locales"
LANGUAGES = ["en", "fr", "de", "es", "it", "pt_BR", "nl", "pl"]
TRANSLATED = LANGUAGES[1:]
KEY = "languages-test-key-0123456789abcdef"


def donorbot(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DONORBOT_PSEUDONYM_KEY": KEY, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, check=False, env=env,
        timeout=300, cwd=cwd,
    )  # fmt: skip


def catalogue(language: str):  # type: ignore[no-untyped-def]
    with (LOCALES / language / "LC_MESSAGES" / "donorbot.po").open("rb") as handle:
        return read_po(handle, locale=language)


def template():  # type: ignore[no-untyped-def]
    with (LOCALES / "donorbot.pot").open("rb") as handle:
        return read_po(handle)


# --- the catalogues ------------------------------------------------------------------------


def test_the_eight_languages_are_available() -> None:
    assert set(LANGUAGES) <= set(i18n.available())


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_in_every_plural_form_with_the_same_placeholders(language: str) -> None:
    po = catalogue(language)
    expected = {(m.context, m.id) for m in template() if m.id}
    found = {(m.context, m.id) for m in po if m.id}
    assert found == expected, "the catalogue follows donorbot.pot (pybabel update)"
    for message in po:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{language}: untranslated {message.id!r}"
        assert len(strings) == (po.num_plurals if message.pluralizable else 1), message.id
        assert not message.fuzzy, f"{language}: fuzzy {message.id!r}"
        assert not list(message.check(po)), f"{language}: {message.id!r}: {list(message.check(po))}"
        names = set(
            re.findall(r"%\((\w+)\)s", " ".join(message.id if message.pluralizable else [message.id]))
        )
        for text in strings:
            assert set(re.findall(r"%\((\w+)\)s", text)) <= names | {"num"}, f"{language}: {text!r}"


def test_the_template_is_what_the_code_and_templates_say(tmp_path: Path) -> None:
    """The .pot on disk is what `pybabel extract` gives today: no text waits untranslated."""
    pot = tmp_path / "donorbot.pot"
    done = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-o", str(pot),
         "--sort-by-file", "--no-wrap", "-c", "Translators:", "."],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with pot.open("rb") as handle:
        fresh = {(m.context, m.id) for m in read_po(handle) if m.id}
    assert fresh == {(m.context, m.id) for m in template() if m.id}, "run pybabel extract (README, Languages)"


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_catalogue_compiles_and_is_what_donorbot_reads(language: str, tmp_path: Path) -> None:
    from babel.messages.mofile import write_mo

    with (tmp_path / "donorbot.mo").open("wb") as handle:
        write_mo(handle, catalogue(language))
    texts = i18n.translations(language)
    assert texts.gettext("Our goals") != "Our goals" or language == "en"
    assert texts.ngettext("%(num)s donor in one month", "%(num)s donors in one month", 5) != (
        "%(num)s donors in one month"
    )


# --- previews in one language --------------------------------------------------------------


def english_fragments() -> set[str]:
    """Pieces of every English text (three words or more), placeholders and Markdown cut out."""
    pieces: set[str] = set()
    for message in template():
        for text in message.id if isinstance(message.id, tuple) else (message.id,):
            for piece in re.split(r"%\(\w+\)s|\*\*|`[^`]*`|[()\[\]:;!?.,…“”]", text or ""):
                piece = piece.strip()
                if len(piece.split()) >= 3:
                    pieces.add(piece)
    return pieces


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    done = donorbot("demo", "--output", str(folder), "--month", "2026-03", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "config.toml"


@pytest.fixture(scope="module")
def one_donor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("one")
    config = folder / "config.toml"
    config.write_text(
        '[project]\nname = "Petit Projet"\ntimezone = "UTC"\ndonate_urls = ["https://example.org/give"]\n'
        'data_dir = "data"\n',
        encoding="utf-8",
    )
    rows = "id,date,amount,currency,donor,name,public,message\n"
    rows += "a1,2026-03-05,25.00,EUR,ann@example.org,Ann,true,Bravo !\n"
    (folder / "d.csv").write_text(rows, encoding="utf-8")
    done = donorbot("--config", str(config), "import", "csv", str(folder / "d.csv"))
    assert done.returncode == 0, done.stderr
    return config


def preview(config: Path, locale: str) -> str:
    done = donorbot("--config", str(config), "preview", "--month", "2026-03", "--locale", locale)
    assert done.returncode == 0, done.stderr
    return done.stdout


def without_donors_words(text: str) -> str:
    """The bulletin without what donors wrote (their quoted messages) and without links' targets."""
    text = re.sub(r"«\u202f.*?\u202f»|„.*?[“”]|“.*?”|«.*?»|‘.*?’", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


@pytest.mark.parametrize("locale", TRANSLATED)
@pytest.mark.parametrize("which", ["demo", "one_donor"])
def test_a_preview_speaks_one_language(locale: str, which: str, request: pytest.FixtureRequest) -> None:
    text = without_donors_words(preview(request.getfixturevalue(which), locale))
    leaks = sorted(piece for piece in english_fragments() if piece in text)
    assert not leaks, f"English in the {locale} bulletin: {leaks}"
    assert "%(" not in text and "{{" not in text


@pytest.mark.parametrize("which", ["demo", "one_donor"])
def test_the_french_bulletin_keeps_french_typography(which: str, request: pytest.FixtureRequest) -> None:
    text = without_donors_words(preview(request.getfixturevalue(which), "fr"))
    assert re.findall(r" [:;!?»]|« ", text) == [], "a narrow no-break space before : ; ! ? and inside « »"
    assert "\u202f:" in text or "\xa0:" in text


def test_the_french_quote_of_a_donor_keeps_their_words(one_donor: Path) -> None:
    text = preview(one_donor, "fr")
    assert "«\u202fBravo !\u202f»" in text, "the marks are spaced; the donor's own text is as written"


# --- locales without a catalogue -----------------------------------------------------------


def config_with(tmp_path: Path, locale: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'[project]\nname = "P"\nlocale = "{locale}"\ndata_dir = "data"\n', encoding="utf-8")
    config.chmod(0o600)
    return config


@pytest.mark.parametrize("locale", ["sv", "ja", "xx"])
def test_check_config_refuses_a_locale_without_a_catalogue(tmp_path: Path, locale: str) -> None:
    done = donorbot("--config", str(config_with(tmp_path, locale)), "check-config")
    assert done.returncode == 2
    assert "project.locale" in done.stderr and repr(locale) in done.stderr
    assert "de, en, es, fr, it, nl, pl, pt_BR" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    stats = donorbot("--config", str(config_with(tmp_path, locale)), "stats")
    assert stats.returncode == 2 and "project.locale" in stats.stderr, "every command, one validation"


@pytest.mark.parametrize(("locale", "catalogue_name"), [("fr_CA", "fr"), ("pt_PT", "pt_BR"), ("de-AT", "de")])
def test_a_regional_locale_takes_its_language_with_a_warning(
    tmp_path: Path, locale: str, catalogue_name: str
) -> None:
    done = donorbot("--config", str(config_with(tmp_path, locale)), "check-config")
    assert done.returncode == 0, done.stderr
    assert f"its texts are those of {catalogue_name}" in done.stderr
    assert i18n.resolve(locale).catalogue == catalogue_name
    assert i18n.resolve("fr_FR").note is None and i18n.resolve("en_GB").note is None


def test_preview_with_an_unknown_locale_is_a_clear_error(tmp_path: Path) -> None:
    for locale in ("xx", "sv"):
        done = donorbot("--config", str(config_with(tmp_path, "en")), "preview", "--locale", locale)
        assert done.returncode == 2
        assert done.stderr.startswith("donorbot: --locale: ") and "languages available" in done.stderr
        assert "site-packages" not in done.stderr and ".j2" not in done.stderr
        assert done.stdout == ""


# --- stats, money, Discord -----------------------------------------------------------------


def test_stats_speaks_the_projects_language(tmp_path: Path) -> None:
    config = config_with(tmp_path, "fr")
    rows = "id,date,amount,currency,donor\n"
    rows += "a,2026-02-03,10.00,EUR,a@example.org\nb,2026-03-03,191.50,EUR,a@example.org\n"
    rows += "c,2026-03-04,20.00,EUR,c@example.org\n"
    (tmp_path / "d.csv").write_text(rows, encoding="utf-8")
    assert donorbot("--config", str(config), "import", "csv", str(tmp_path / "d.csv")).returncode == 0
    done = donorbot("--config", str(config), "stats", "--month", "2026-03")
    assert done.returncode == 0, done.stderr
    table = done.stdout.replace("\u202f", " ").replace("\xa0", " ")
    for label in ("Donateurs", "nouveaux", "Total en EUR", "Don médian", "Records", "Caps franchis"):
        assert label in table, table
    assert "+201,50 € par rapport au mois précédent" in table, "a total's change said as money"
    assert "+1 par rapport au mois précédent" in table
    assert "le plus de donateurs cette année, le plus gros total de l’année" in table, "records in words"
    for english in ("donors_year", "vs previous", "total in", "median donation", "records "):
        assert english not in table


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((10000, "CHF", "en"), "CHF\xa0100.00"),
        ((10000, "EUR", "en"), "€100.00"),
        ((10000, "CHF", "fr"), "100,00\xa0CHF"),
        ((123456, "USD", "de"), "1.234,56\xa0$"),
    ],
)
def test_money_as_cldr_writes_it(args: tuple[int, str, str], expected: str) -> None:
    assert wording.money(*args) == expected


def test_round_amounts_have_no_cents() -> None:
    from decimal import Decimal

    assert wording.amount(Decimal(1000), "EUR", "en") == "€1,000"
    assert wording.amount(Decimal(1000), "EUR", "fr") == "1\u202f000\xa0€"
    assert wording.amount(Decimal(1000), "CHF", "en") == "CHF\xa01,000"
    assert wording.amount(Decimal("1500.50"), "EUR", "en") == "€1,500.50", "cents kept when there are some"


@pytest.mark.parametrize("language", TRANSLATED)
def test_slash_command_names_and_descriptions_are_ones_discord_accepts(language: str) -> None:
    from bot.chat.discord import localisation

    texts = i18n.translations(language)
    names = localisation.local_names(language)
    assert set(names) >= {"donors", "goal", "milestones", "donate", "help", "news", "preview", "post"}
    for word, name in names.items():
        assert re.fullmatch(r"[-_\w]{1,32}", name) and name == name.lower(), (language, word, name)
    for description in localisation._DESCRIPTIONS.values():
        translated = texts.gettext(description)
        assert 1 <= len(translated) <= 100 and translated != description, (language, description)
