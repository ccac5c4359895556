"""Grammar at every size, in every language: the sentences a small community reads (0, 1 and 2
donors, a change of one, a goal with one donor, one new, one recurring, one named donor left
over) and the plural forms of 3, 5, 21, 22, 101, 1,000 and 1,001 (Polish has three).

The expected sentences are written out here by hand, as a native speaker says them; they are
not read from the catalogues. Reports come from real SQLite ledgers in tmp_path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.numbers import format_decimal

from bot.config import load_config
from bot.core import Core
from bot.ledger.models import NewDonation
from bot.months import Month

LANGUAGES = ["en", "fr", "de", "es", "it", "pt_BR", "nl", "pl"]
MARCH = Month(2026, 3)
KEY_ENV = "DONORBOT_GRAMMAR_TEST_KEY"


def plain(text: str) -> str:
    """No-break and narrow no-break spaces read as spaces; ’ as '."""
    return text.replace("\xa0", " ").replace("\u202f", " ").replace("\u2019", "'")


def gift(n: int, donor: str, month: Month, **values: object) -> NewDonation:
    return NewDonation(
        source="test",
        external_id=f"g{n}-{donor}-{month}",
        amount=1000,
        currency="EUR",
        received_at=datetime(month.year, month.month, 1 + n % 27, 12, tzinfo=UTC),
        donor_id=f"test:{donor}",
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture
async def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[..., object]]:
    monkeypatch.setenv(KEY_ENV, "grammar-test-key-0123456789abcdef")
    opened: list[Core] = []

    async def build(gifts: list[NewDonation], extra: str = "") -> Core:
        folder = tmp_path / f"p{len(opened)}"
        folder.mkdir()
        path = folder / "config.toml"
        path.write_text(
            '[project]\nname = "Donor Friends"\ntimezone = "UTC"\nbase_currency = "EUR"\n'
            f'donate_urls = ["https://example.org/donate"]\ndata_dir = "data"\n'
            f'[ledger]\npseudonym_key_env = "{KEY_ENV}"\n'
            '[[goals]]\nname = "server"\ntitle = "Server"\ndonors = 20\nstart = 2026-03-01\nend = 2026-12-31\n'
            f"{extra}",
            encoding="utf-8",
        )
        core = await Core.open(load_config(path))
        opened.append(core)
        if gifts:
            await core.ledger.write(gifts)
        return core

    yield build
    for core in opened:
        await core.close()


async def bulletin(core: Core, locale: str) -> str:
    return plain((await core.bulletin(MARCH, locale, image=False)).markdown)


# --- one donor, a change of minus one, a goal with one donor ------------------------------

ONE_DONOR = {
    "en": ["In March 2026, one person gave: thank you for your donation and your support!",
           "It was their very first donation. Welcome!",
           "That is one donor fewer than in February 2026.",
           "1 of 20 donors.",
           "A total of €10.00 was raised thanks to the generosity of one donor:"],
    "fr": ["En mars 2026, une personne a fait un don : merci pour votre don et votre soutien !",
           "C'était son tout premier don. Bienvenue !",
           "C'est un donateur de moins qu'en février 2026.",
           "1 donateur sur 20.",
           "Au total, 10,00 € ont été recueillis grâce à la générosité d'une personne :"],
    "de": ["Im März 2026 hat eine Person gespendet: Vielen Dank für die Spende und die Unterstützung!",
           "Es war die allererste Spende dieser Person. Herzlich willkommen!",
           "Das ist ein Spender weniger als im Februar 2026.",
           "1 von 20 Spendern.",
           "Insgesamt kamen 10,00 € zusammen, dank der Großzügigkeit einer Person:"],
    "es": ["En marzo de 2026, una persona hizo una donación: ¡gracias por tu donación y tu apoyo!",
           "Era su primerísima donación.",
           "Es un donante menos que en febrero de 2026.",
           "1 de 20 donantes.",
           "Se recaudó un total de 10,00 € gracias a la generosidad de una persona:"],
    "it": ["A marzo 2026 una persona ha fatto una donazione: grazie per la donazione e il sostegno!",
           "Era la sua primissima donazione.",
           "È un donatore in meno rispetto a febbraio 2026.",
           "1 donatore su 20.",
           "Sono stati raccolti in tutto 10,00 € grazie alla generosità di una persona:"],
    "pt_BR": ["Em março de 2026, uma pessoa fez uma doação: obrigado pela doação e pelo apoio!",
              "Foi a primeira doação dessa pessoa.",
              "É um doador a menos do que em fevereiro de 2026.",
              "1 de 20 doadores.",
              "Foram arrecadados € 10,00 no total graças à generosidade de uma pessoa:"],
    "nl": ["In maart 2026 heeft één persoon gedoneerd: hartelijk dank voor je donatie en je steun!",
           "Het was de allereerste donatie van deze persoon. Welkom!",
           "Dat is één donateur minder dan in februari 2026.",
           "1 van 20 donateurs.",
           "In totaal is € 10,00 opgehaald dankzij de gulheid van één donateur:"],
    "pl": ["W marcu 2026 jedna osoba przekazała darowiznę: dziękujemy za wsparcie!",
           "To była jej pierwsza darowizna. Witamy!",
           "To o jednego darczyńcę mniej niż w lutym 2026.",
           "1 z 20 darczyńców.",
           "Łącznie zebraliśmy 10,00 € dzięki hojności jednej osoby:"],
}  # fmt: skip


@pytest.mark.parametrize("locale", LANGUAGES)
async def test_one_donor_a_change_of_minus_one_and_a_goal_with_one_donor(ledger: Any, locale: str) -> None:
    february = Month(2026, 2)
    core = await ledger(
        [
            gift(1, "bob", february),
            gift(2, "cid", february),
            gift(3, "ann", MARCH, public=True, display_name="Ann"),
        ]
    )
    text = await bulletin(core, locale)
    for sentence in ONE_DONOR[locale]:
        assert sentence in text, f"{locale}: {sentence!r} not in\n{text}"
    for wrong in ("1 people", "1 personnes", "1 donateurs", "1 Menschen", "1 osób", "1 donors"):
        assert wrong not in text


# --- two donors, one new, one recurring, a change of plus one ------------------------------

SMALL_MONTH = {
    "en": ["In March 2026, we received donations from 3 people.",
           "One of you gave for the very first time. Welcome, and thank you!",
           "One person supports us every month: regular support is what lets us plan ahead.",
           "That is one more donor than in February 2026."],
    "fr": ["En mars 2026, nous avons reçu des dons de 3 personnes.",
           "L'un ou l'une d'entre vous a donné pour la toute première fois. Bienvenue, et merci !",
           "Une personne nous soutient chaque mois : ce soutien régulier nous permet de voir loin.",
           "C'est un donateur de plus qu'en février 2026."],
    "de": ["Im März 2026 haben wir Spenden von 3 Menschen erhalten.",
           "Eine Person unter euch hat zum allerersten Mal gespendet. Willkommen und danke!",
           "Eine Person unterstützt uns jeden Monat: Regelmäßige Unterstützung lässt uns vorausplanen.",
           "Das ist ein Spender mehr als im Februar 2026."],
    "es": ["En marzo de 2026 recibimos donaciones de 3 personas.",
           "Una persona donó por primera vez. ¡Bienvenida y gracias!",
           "Una persona nos apoya cada mes: el apoyo regular es lo que nos permite planificar.",
           "Es un donante más que en febrero de 2026."],
    "it": ["A marzo 2026 abbiamo ricevuto donazioni da 3 persone.",
           "Una persona ha donato per la primissima volta. Benvenuta e grazie!",
           "Una persona ci sostiene ogni mese: il sostegno regolare è ciò che ci permette di programmare.",
           "È un donatore in più rispetto a febbraio 2026."],
    "pt_BR": ["Em março de 2026, recebemos doações de 3 pessoas.",
              "Uma pessoa doou pela primeira vez. Seja bem-vinda, e obrigado!",
              "Uma pessoa nos apoia todo mês: o apoio regular é o que nos permite planejar.",
              "É um doador a mais do que em fevereiro de 2026."],
    "nl": ["In maart 2026 ontvingen we donaties van 3 mensen.",
           "Eén van jullie doneerde voor het allereerst. Welkom, en bedankt!",
           "Eén persoon steunt ons elke maand: vaste steun maakt het mogelijk om vooruit te plannen.",
           "Dat is één donateur meer dan in februari 2026."],
    "pl": ["W marcu 2026 otrzymaliśmy darowizny od 3 osób.",
           "Jedna osoba wsparła nas po raz pierwszy. Witamy i dziękujemy!",
           "Jedna osoba wspiera nas co miesiąc: regularne wsparcie pozwala nam planować z wyprzedzeniem.",
           "To o jednego darczyńcę więcej niż w lutym 2026."],
}  # fmt: skip

TWO_PEOPLE = {
    "en": "we received donations from 2 people.", "fr": "nous avons reçu des dons de 2 personnes.",
    "de": "haben wir Spenden von 2 Menschen erhalten.", "es": "recibimos donaciones de 2 personas.",
    "it": "abbiamo ricevuto donazioni da 2 persone.", "pt_BR": "recebemos doações de 2 pessoas.",
    "nl": "ontvingen we donaties van 2 mensen.", "pl": "otrzymaliśmy darowizny od 2 osób.",
}  # fmt: skip


@pytest.mark.parametrize("locale", LANGUAGES)
async def test_two_and_three_donors_one_new_one_recurring_and_plus_one(ledger: Any, locale: str) -> None:
    february = Month(2026, 2)
    core = await ledger(
        [gift(1, "ann", february), gift(2, "bob", february), gift(3, "ann", MARCH, recurring=True),
         gift(4, "bob", MARCH), gift(5, "cid", MARCH)]
    )  # fmt: skip
    text = await bulletin(core, locale)
    for sentence in SMALL_MONTH[locale]:
        assert sentence in text, f"{locale}: {sentence!r} not in\n{text}"
    two = await ledger([gift(1, "ann", MARCH), gift(2, "bob", MARCH)])
    assert TWO_PEOPLE[locale] in await bulletin(two, locale)


# --- no donation: one request for a gift ---------------------------------------------------

NONE = {
    "en": "We did not receive any donations in March 2026.",
    "fr": "Nous n'avons reçu aucun don en mars 2026.",
    "de": "Im März 2026 haben wir keine Spenden erhalten.",
    "es": "No recibimos ninguna donación en marzo de 2026.",
    "it": "A marzo 2026 non abbiamo ricevuto nessuna donazione.",
    "pt_BR": "Não recebemos nenhuma doação em março de 2026.",
    "nl": "In maart 2026 hebben we geen donaties ontvangen.",
    "pl": "W marcu 2026 nie otrzymaliśmy żadnych darowizn.",
}


@pytest.mark.parametrize("locale", LANGUAGES)
async def test_a_month_without_donations_asks_for_a_gift_once(ledger: Any, locale: str) -> None:
    core = await ledger([gift(1, "ann", Month(2026, 2))])
    text = await bulletin(core, locale)
    assert NONE[locale] in text
    assert text.count("https://example.org/donate") == 1, text
    assert "## Donations" not in text and "## Dons" not in text, "no donations section without donations"


# --- one named donor left over, and the full list attached ---------------------------------

LEFT_ONE = {
    "en": "… and 1 more donor who chose to be named: see the attached list. Thank you all!",
    "fr": "… et 1 autre personne qui a souhaité être nommée : voir la liste jointe. Merci à toutes et à tous !",
    "de": "… und 1 weitere Person, die genannt werden wollte: siehe die angehängte Liste. Danke euch allen!",
    "es": "… y 1 persona más que quiso aparecer con su nombre: consulta la lista adjunta. ¡Gracias a todos!",
    "it": "… e ancora 1 persona che ha scelto di essere nominata: trovate l'elenco completo in allegato.",
    "pt_BR": "… e mais 1 pessoa que quis ser mencionada: veja a lista em anexo. Obrigado a todos!",
    "nl": "… en nog 1 donateur die genoemd wilde worden: zie de bijgevoegde lijst. Iedereen bedankt!",
    "pl": "… i jeszcze 1 osoba, która chciała zostać wymieniona: pełna lista w załączniku.",
}  # fmt: skip
LEFT_MANY = {
    "en": "… and 106 more donors who chose to be named: see the attached list.",
    "fr": "… et 106 autres personnes qui ont souhaité être nommées : voir la liste jointe.",
    "de": "… und 106 weitere Menschen, die genannt werden wollten: siehe die angehängte Liste.",
    "es": "… y 106 personas más que quisieron aparecer con su nombre: consulta la lista adjunta.",
    "it": "… e altre 106 persone che hanno scelto di essere nominate: trovate l'elenco completo in allegato.",
    "pt_BR": "… e mais 106 pessoas que quiseram ser mencionadas: veja a lista em anexo.",
    "nl": "… en nog 106 donateurs die genoemd wilden worden: zie de bijgevoegde lijst.",
    "pl": "… i jeszcze 106 osób, które chciały zostać wymienione: pełna lista w załączniku.",
}  # fmt: skip


@pytest.mark.parametrize("locale", LANGUAGES)
async def test_everyone_who_chose_to_be_named_is_named_somewhere(ledger: Any, locale: str) -> None:
    names = ["Ann", "Bob", "Cid"]
    gifts = [gift(i, n.lower(), MARCH, public=True, display_name=n) for i, n in enumerate(names)]
    core = await ledger(gifts, "[news]\nnamed_donors_shown = 2\n")
    message = await core.bulletin(MARCH, locale, image=False)
    text = plain(message.markdown)
    assert LEFT_ONE[locale] in text, text
    assert "Cid" not in text
    [attached] = message.attachments
    listing = attached.data.decode("utf-8")
    assert all(name in listing for name in names), "the file names all three"
    assert attached.mime.startswith("text/plain") and attached.filename.endswith(f"{MARCH}.txt")

    many = [gift(i, f"p{i}", MARCH, public=True, display_name=f"Person {i}") for i in range(108)]
    crowd = await ledger(many, "[news]\nnamed_donors_shown = 2\n")
    crowded = await crowd.bulletin(MARCH, locale, image=False)
    assert LEFT_MANY[locale] in plain(crowded.markdown)
    assert plain(crowded.attachments[0].data.decode("utf-8")).count("Person ") == 108


# --- plural forms: 3, 5, 21, 22, 101, 1,000 and 1,001 -------------------------------------

COUNTS = [3, 5, 21, 22, 101, 1000, 1001]
# The sentence for n recurring donors, by CLDR category, hand-written per language.
RECURRING = {
    "en": {"other": "{n} people support us every month"},
    "fr": {"other": "{n} personnes nous soutiennent chaque mois"},
    "de": {"other": "{n} Menschen unterstützen uns jeden Monat"},
    "es": {"other": "{n} personas nos apoyan cada mes"},
    "it": {"other": "{n} persone ci sostengono ogni mese"},
    "pt_BR": {"other": "{n} pessoas nos apoiam todo mês"},
    "nl": {"other": "{n} mensen steunen ons elke maand"},
    "pl": {"few": "{n} osoby wspierają nas co miesiąc", "many": "{n} osób wspiera nas co miesiąc"},
}
NEW = {
    "en": {"other": "{n} of you gave for the very first time"},
    "fr": {"other": "{n} d'entre vous ont donné pour la toute première fois"},
    "de": {"other": "{n} von euch haben zum allerersten Mal gespendet"},
    "es": {"other": "{n} personas donaron por primera vez"},
    "it": {"other": "{n} di voi hanno donato per la primissima volta"},
    "pt_BR": {"other": "{n} pessoas doaram pela primeira vez"},
    "nl": {"other": "{n} van jullie doneerden voor het allereerst"},
    "pl": {"few": "{n} osoby wsparły nas po raz pierwszy", "many": "{n} osób wsparło nas po raz pierwszy"},
}
# Polish, by hand: 2-4 and 22-24 take "few"; 5-21, 25-31, 101, 1,000 and 1,001 "many".
POLISH = {3: "few", 5: "many", 21: "many", 22: "few", 101: "many", 1000: "many", 1001: "many"}
# "we received donations from ...": round figures are said in words.
PEOPLE = {
    "en": ("more than a hundred people", "more than a thousand people", "{n} people"),
    "fr": ("plus d'une centaine de personnes", "plus d'un millier de personnes", "{n} personnes"),
    "de": ("mehr als hundert Menschen", "mehr als tausend Menschen", "{n} Menschen"),
    "es": ("más de cien personas", "más de mil personas", "{n} personas"),
    "it": ("più di cento persone", "più di mille persone", "{n} persone"),
    "pt_BR": ("mais de cem pessoas", "mais de mil pessoas", "{n} pessoas"),
    "nl": ("meer dan honderd mensen", "meer dan duizend mensen", "{n} mensen"),
    "pl": ("ponad stu osób", "ponad tysiąca osób", "{n} osób"),
}


@pytest.mark.parametrize("locale", LANGUAGES)
async def test_plural_forms_for_three_to_a_thousand_and_one(ledger: Any, locale: str) -> None:
    core = await ledger([gift(1, "ann", Month(2026, 2)), gift(2, "ann", MARCH), gift(3, "bob", MARCH)])
    report = await core.report(MARCH)
    for n in COUNTS:
        shown = plain(str(format_decimal(n, locale=locale)))
        category = POLISH[n] if locale == "pl" else "other"
        changed = dataclasses.replace(report, donors=n + 1, new_donors=n, recurring_donors=n)
        text = plain(core.renderer.bulletin(changed, locale, news=None).markdown)
        assert RECURRING[locale][category].format(n=shown) in text, f"{locale} {n}:\n{text}"
        assert NEW[locale][category].format(n=shown) in text, f"{locale} {n}:\n{text}"
        people = dataclasses.replace(report, donors=n)
        lead = plain(core.renderer.bulletin(people, locale, news=None).markdown)
        hundred, thousand, exact = PEOPLE[locale]
        expected = {101: hundred, 1001: thousand}.get(n, exact.format(n=shown))
        assert expected in lead, f"{locale} {n}:\n{lead}"


def test_the_console_target_writes_the_full_list_next_to_the_bulletin(tmp_path: Path) -> None:
    """Through `donorbot post`: the bulletin names one donor, says one more chose to be named, and
    the file with both is written in the target's folder (its path printed)."""
    import os
    import subprocess
    import sys

    config = tmp_path / "config.toml"
    config.write_text(
        '[project]\nname = "Donor Friends"\ntimezone = "UTC"\ndata_dir = "data"\n'
        "[news]\nnamed_donors_shown = 1\n"
        '[[targets]]\nname = "out"\nplatform = "console"\noutput_dir = "out"\nformat = "markdown"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    rows = "id,date,amount,currency,donor,name,public\n"
    rows += (
        "a,2026-03-02,10.00,EUR,ann@example.org,Ann,true\nb,2026-03-03,12.00,EUR,bob@example.org,Bob,true\n"
    )
    (tmp_path / "d.csv").write_text(rows, encoding="utf-8")
    env = {**os.environ, "DONORBOT_PSEUDONYM_KEY": "console-list-key-0123456789abcdef"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(config), *args],
            capture_output=True, text=True, check=False, env=env, timeout=300,
        )  # fmt: skip

    assert run("import", "csv", str(tmp_path / "d.csv")).returncode == 0
    done = run("post", "--month", "2026-03")
    assert done.returncode == 0, done.stderr
    assert "… and 1 more donor who chose to be named: see the attached list." in done.stdout
    [listed] = list((tmp_path / "out").glob("*named-donors-2026-03.txt"))
    assert f"[named-donors-2026-03.txt: {listed}]" in done.stdout
    text = listed.read_text(encoding="utf-8")
    assert "Ann" in text and "Bob" in text
    assert text.startswith("Donor Friends – everyone who chose to be named – March 2026")
