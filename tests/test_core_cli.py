"""The core through the ``donorbot`` command: a real config file, a real SQLite ledger.

Totals across currencies, the pseudonym key, maintainer template errors, time-zone
month boundaries, duplicates and refunds, stats equal to the bulletin, and the demo.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KEY = "0123456789abcdef0123456789abcdef"


def donorbot(config: Path, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "DONORBOT_PSEUDONYM_KEY"}
    if key is not None:
        env["DONORBOT_PSEUDONYM_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        capture_output=True, text=True, check=False, env=env, timeout=120,
    )  # fmt: skip


def project(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        '[project]\nname = "Donor Friends"\ntimezone = "Europe/Paris"\nbase_currency = "EUR"\n'
        f'data_dir = "data"\n{extra}',
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


CSV_HEADER = "id,date,amount,currency,donor,name,public,status\n"


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text(CSV_HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def stats(config: Path, month: str) -> dict[str, object]:
    done = donorbot(config, "stats", "--month", month, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_month_is_counted_in_the_project_time_zone_and_duplicates_and_refunds_are_handled(
    tmp_path: Path,
) -> None:
    config = project(tmp_path)
    rows = [
        # 23:30 UTC on 31 January is 00:30 on 1 February in Paris.
        "a1,2026-01-31T23:30:00Z,10.00,EUR,ann@example.org,Ann,true,succeeded",
        "a2,2026-01-15T12:00:00Z,20.00,EUR,bob@example.org,,false,succeeded",
        "a3,2026-01-20T12:00:00Z,5.00,EUR,,,false,succeeded",
        "a4,2026-01-21T12:00:00Z,7.00,EUR,cid@example.org,,false,refunded",
    ]
    first = donorbot(config, "import", "csv", str(write_csv(tmp_path / "d.csv", rows)))
    assert first.returncode == 0, first.stderr
    again = donorbot(config, "import", "csv", str(tmp_path / "d.csv"))
    assert again.returncode == 0 and "duplicate" in again.stdout.lower(), again.stdout

    january, february = stats(config, "2026-01"), stats(config, "2026-02")
    assert january["donors"] == 2, "bob and one anonymous donation; the refund does not count"
    assert january["total_base"] == "25.00"
    assert february["donors"] == 1 and february["total_base"] == "10.00"


def test_an_unconverted_currency_is_shown_beside_the_total_never_hidden_in_it(tmp_path: Path) -> None:
    config = project(tmp_path)
    rows = [
        "b1,2026-03-02T12:00:00Z,100.00,EUR,a@example.org,,false,succeeded",
        "b2,2026-03-03T12:00:00Z,50.00,USD,b@example.org,,false,succeeded",
    ]
    assert donorbot(config, "import", "csv", str(write_csv(tmp_path / "d.csv", rows))).returncode == 0
    preview = donorbot(config, "preview", "--month", "2026-03")
    assert preview.returncode == 0, preview.stderr
    assert "A total of €100.00 and $50.00 was raised" in preview.stdout, "dollars without a rate, shown apart"

    (tmp_path / "rated").mkdir()
    rated = project(tmp_path / "rated", "rates = { USD = 0.5 }\n")
    assert donorbot(rated, "import", "csv", str(tmp_path / "d.csv")).returncode == 0
    converted = donorbot(rated, "preview", "--month", "2026-03")
    assert converted.returncode == 0, converted.stderr
    assert "A total of €125.00 (including $50.00) was raised" in converted.stdout, "counted in, and said so"


def test_a_short_pseudonym_key_is_a_clear_configuration_error(tmp_path: Path) -> None:
    config = project(tmp_path)
    done = donorbot(config, "stats", key="Xq7-tiny")
    assert done.returncode == 2
    assert "ledger.pseudonym_key_env" in done.stderr and "at least 16" in done.stderr
    assert "Traceback" not in done.stderr and "Xq7-tiny" not in done.stderr, "the secret is never printed"


@pytest.mark.parametrize(
    ("broken", "problem"),
    [("{% if %}\n", "bulletin.md.j2:"), ("{{ nosuchthing.x }}\n", "'nosuchthing' is undefined")],
)
def test_a_maintainer_template_error_names_the_template_and_line(
    tmp_path: Path, broken: str, problem: str
) -> None:
    templates = tmp_path / "mine" / "en"
    templates.mkdir(parents=True)
    for source in (REPO / "templates").iterdir():
        (templates / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    with (templates / "bulletin.md.j2").open("a", encoding="utf-8") as out:
        out.write(broken)
    config = project(tmp_path, '[news]\ntemplates_dir = "mine"\n')
    done = donorbot(config, "preview", "--month", "2026-01")
    assert done.returncode == 2
    assert "template" in done.stderr and problem in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == "", "nothing half-rendered"


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_stats_json_and_the_bulletin_say_the_same_figures(tmp_path: Path, locale: str) -> None:
    from decimal import Decimal

    from bot.news import wording

    config = project(
        tmp_path,
        f'locale = "{locale}"\n[milestones]\nmonthly_donors = [5]\n'
        '[[goals]]\nname = "server"\ntitle = "Server"\namount = 500\nstart = 2026-03-01\nend = 2026-12-31\n',
    )
    rows = [
        f"m{i},2026-02-{1 + i:02d}T12:00:00Z,10.00,EUR,p{i}@example.org,,false,succeeded" for i in range(3)
    ]
    rows += [
        f"n{i},2026-03-{1 + i:02d}T12:00:00Z,20.00,EUR,p{i}@example.org,,false,succeeded" for i in range(2)
    ]
    rows += [
        f"c{i},2026-04-{1 + i % 28:02d}T12:00:00Z,{3 + i}.00,EUR,p{i % 7}@example.org,,false,succeeded"
        for i in range(20)
    ]
    rows.append("r1,2026-04-20T12:00:00Z,15.00,EUR,,,false,succeeded")
    assert donorbot(config, "import", "csv", str(write_csv(tmp_path / "d.csv", rows))).returncode == 0
    figures = stats(config, "2026-04")
    # Babel's French separators, as plain spaces, so the test reads like the bulletin.
    preview = (
        donorbot(config, "preview", "--month", "2026-04").stdout.replace("\xa0", " ").replace("\u202f", " ")
    )

    def said(text: str) -> str:
        return text.replace("\xa0", " ").replace("\u202f", " ")

    assert figures["donors"] == 8 and figures["new_donors"] == 4 and figures["records"] == ["donors", "total"]
    number = {
        "en": "{n} of you gave for the very first time",
        "fr": "{n} d’entre vous ont donné pour la toute première fois",
    }
    assert number[locale].format(n=figures["new_donors"]) in preview
    from bot import i18n

    texts = i18n.translations(i18n.resolve(locale).catalogue)
    assert said(wording.people(int(str(figures["donors"])), texts, locale)) in preview
    total = said(wording.money(int(Decimal(str(figures["total_base"])) * 100), "EUR", locale))
    assert total in preview and preview.count(total) >= 2, "the record sentence and the donations paragraph"
    [milestone] = figures["milestones"]  # type: ignore[misc]
    assert milestone == {"kind": "monthly_donors", "threshold": 5}
    sentence = {"en": "at least {n} people gave in a single month", "fr": "au moins {n} personnes ont donné"}
    assert sentence[locale].format(n=milestone["threshold"]) in preview
    [goal] = figures["goals"]  # type: ignore[misc]
    reached = said(wording.money(int(Decimal(goal["reached"]) * 100), "EUR", locale))
    assert f"{said(wording.percent(goal['percent'], locale))}, {reached}" in preview


def test_the_demo_runs_end_to_end_and_writes_its_chart(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--output", str(tmp_path / "demo")],
        capture_output=True, text=True, check=False, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Monthly News" in done.stdout and "Nouvelles mensuelles" in done.stdout
    charts = list((tmp_path / "demo").rglob("*.png"))
    assert charts and all(c.read_bytes().startswith(b"\x89PNG") for c in charts)
    assert any(str(c) in done.stdout for c in charts), "the chart's path is printed"


def test_add_records_an_offline_donation_once_and_counts_it(tmp_path: Path) -> None:
    config = project(tmp_path)
    args = ["add", "--amount", "25.00", "--currency", "eur", "--donor", "Cash@Example.org", "--date"]
    first = donorbot(
        config, *args, "2026-05-10", "--name", "Ann at the stand", "--public", "--id", "cheque-7"
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "recorded 25.00 EUR on 2026-05-10 (id cheque-7)"
    again = donorbot(config, *args, "2026-05-10", "--id", "cheque-7")
    assert again.returncode == 0 and again.stdout.startswith("already recorded: 25.00 EUR"), again.stdout
    # The same donor (their email, normalised), later, by cheque: a returning donor.
    later = donorbot(config, *args[:5], "--donor", "cash@example.org", "--date", "2026-06-02", "--org")
    assert later.returncode == 0, later.stderr
    may, june = stats(config, "2026-05"), stats(config, "2026-06")
    assert may["donations"] == 1 and may["total_base"] == "25.00" and may["new_donors"] == 1
    assert june["returning_donors"] == 1 and june["new_donors"] == 0 and june["organisations"] == 1
    assert "Ann at the stand" in donorbot(config, "preview", "--month", "2026-05").stdout
    raw = (tmp_path / "data" / "donorbot.sqlite3").read_bytes()
    assert b"cash@example.org" not in raw.lower(), "the email is never stored"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--amount", "25.001", "--currency", "EUR"], "--amount:"),
        (["--amount", "-3", "--currency", "EUR"], "--amount:"),
        (["--amount", "0", "--currency", "EUR"], "--amount: must be more than zero"),
        (["--amount", "5", "--currency", "EUX"], "--currency: 'EUX' is not an ISO 4217 code"),
        (["--amount", "5", "--currency", "EUR", "--date", "2026-13-01"], "--date: '2026-13-01'"),
        (["--amount", "5", "--currency", "EUR", "--name", "Ann"], "add --public if the donor agreed"),
    ],
)
def test_add_refuses_bad_input_with_a_clear_error(tmp_path: Path, args: list[str], problem: str) -> None:
    config = project(tmp_path)
    done = donorbot(config, "add", *args)
    assert done.returncode == 1 and problem in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert stats(config, "2026-01")["donations"] == 0


def test_import_a_bad_row_names_file_line_and_column_and_imports_nothing(tmp_path: Path) -> None:
    config = project(tmp_path)
    rows = [
        "d1,2026-02-02T12:00:00Z,10.00,EUR,a@example.org,,false,succeeded",
        "d2,2026-02-03T12:00:00Z,ten,EUR,b@example.org,,false,succeeded",
        "d3,2026-02-04T12:00:00Z,5.00,EUR,c@example.org,,false,succeeded",
    ]
    path = write_csv(tmp_path / "d.csv", rows)
    done = donorbot(config, "import", "csv", str(path))
    assert done.returncode == 1
    assert f"{path}:3: amount: " in done.stderr, done.stderr
    assert "nothing was imported" in done.stderr and "Traceback" not in done.stderr
    assert stats(config, "2026-02")["donations"] == 0, "one transaction per file"

    dry = donorbot(config, "import", "csv", str(path), "--skip-invalid", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would import: 2" in dry.stdout and "dry run: nothing was written" in dry.stdout
    assert stats(config, "2026-02")["donations"] == 0 and not (tmp_path / "d.csv.rejected.csv").exists()

    skip = donorbot(config, "import", "csv", str(path), "--skip-invalid")
    assert skip.returncode == 0, skip.stderr
    assert "imported: 2" in skip.stdout and "rejected (invalid): 1" in skip.stdout
    rejected = (tmp_path / "d.csv.rejected.csv").read_text(encoding="utf-8")
    assert "d2" in rejected and "amount" in rejected and "d1" not in rejected
    assert stats(config, "2026-02")["total_base"] == "15.00"


def test_a_refund_imported_later_is_taken_out_of_its_month(tmp_path: Path) -> None:
    config = project(tmp_path)
    paid = "r1,2026-03-05T12:00:00Z,40.00,EUR,a@example.org,Ann,true,succeeded"
    other = "r2,2026-03-06T12:00:00Z,10.00,EUR,b@example.org,,false,succeeded"
    assert (
        donorbot(config, "import", "csv", str(write_csv(tmp_path / "a.csv", [paid, other]))).returncode == 0
    )
    assert stats(config, "2026-03")["total_base"] == "50.00"
    refund = write_csv(tmp_path / "b.csv", [paid.replace("succeeded", "refunded")])
    done = donorbot(config, "import", "csv", str(refund))
    assert done.returncode == 0 and "refunds applied: 1" in done.stdout, done.stdout
    march = stats(config, "2026-03")
    assert march["total_base"] == "10.00" and march["donors"] == 1 and march["donations"] == 1
    assert "Ann" not in donorbot(config, "preview", "--month", "2026-03").stdout, (
        "a refunded donor is not thanked"
    )


def test_anonymous_donors_are_counted_but_never_named(tmp_path: Path) -> None:
    config = project(tmp_path)
    rows = [
        # A name given without consent to be public, and donations without any donor.
        "n1,2026-03-05T12:00:00Z,40.00,EUR,secret@example.org,Zebulon Private,false,succeeded",
        "n2,2026-03-06T12:00:00Z,10.00,EUR,,Quentin Nobody,false,succeeded",
        "n3,2026-03-07T12:00:00Z,10.00,EUR,,,false,succeeded",
        "n4,2026-03-08T12:00:00Z,5.00,EUR,pub@example.org,Paula Public,true,succeeded",
    ]
    assert donorbot(config, "import", "csv", str(write_csv(tmp_path / "d.csv", rows))).returncode == 0
    march = stats(config, "2026-03")
    assert march["donors"] == 4 and march["anonymous_donors"] == 2
    shown = donorbot(config, "preview", "--month", "2026-03").stdout
    assert "Paula Public" in shown and "4 donors" in shown
    for hidden in ("Zebulon", "Quentin", "secret@"):
        assert hidden not in shown
    raw = (tmp_path / "data" / "donorbot.sqlite3").read_bytes()
    assert b"Zebulon" not in raw and b"Quentin" not in raw, "a private name is not even stored"


def test_a_member_id_is_one_donor_through_add_and_import_csv(tmp_path: Path) -> None:
    """An association that knows its members by number counts each of them once."""
    config = project(tmp_path)
    added = donorbot(
        config, "add", "--amount", "20", "--currency", "EUR", "--donor", "adh-0042", "--date", "2026-09-10"
    )
    assert added.returncode == 0, added.stderr
    imported = donorbot(
        config, "import", "csv", str(write_csv(tmp_path / "oct.csv", ["r1,2026-10-05,30.00,EUR,adh-0042,,,"]))
    )
    assert imported.returncode == 0, imported.stderr
    october = stats(config, "2026-10")
    assert october["donors"] == 1 and october["new_donors"] == 0 and october["returning_donors"] == 1
    # A namespace of its own, asked for explicitly, is another person.
    apart = donorbot(
        config, "add", "--amount", "5", "--currency", "EUR", "--donor", "adh-0042",
        "--donor-namespace", "manual", "--date", "2026-10-20",
    )  # fmt: skip
    assert apart.returncode == 0, apart.stderr
    assert stats(config, "2026-10")["new_donors"] == 1
    bad = donorbot(config, "add", "--amount", "5", "--currency", "EUR", "--donor-namespace", "a b")
    assert bad.returncode == 1 and "--donor-namespace" in bad.stderr
