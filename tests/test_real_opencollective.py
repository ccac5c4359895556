"""Real Open Collective exports (scrubbed; sources in tests/fixtures/README.md) through ``donorbot``.

Each month's ``stats --json`` is compared with a computation written here from the CSV
itself: which rows are contributions, what the gift was, which month it falls in, who
gave, who may be named, what was refunded.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sources_support import FIXTURES, KEY, KEY_ENV, cli, query, write_config

REAL = FIXTURES / "opencollective" / "real"
DASHBOARD = REAL / "astro-dashboard.csv"
TRANSACTIONS = REAL / "prettier-transactions.csv"
TRANSACTIONS_2 = REAL / "hledger-transactions.csv"  # a second collective, with the later taxAmount column
TRANSACTIONS_3 = REAL / "homebrew-transactions.csv"  # a third, as the REST API writes it today
ZONE = "America/New_York"  # a zone far from UTC: rows near midnight UTC change month


@dataclass
class Month:
    donations: int = 0
    donors: set[str] = field(default_factory=set)
    totals: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    public: int = 0
    recurring: set[str] = field(default_factory=set)


def month_of(text: str) -> str:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC).astimezone(ZoneInfo(ZONE))
    return f"{moment.year}-{moment.month:02d}"


def expected(path: Path, dashboard: bool) -> tuple[dict[str, Month], int, int]:
    """Per month figures, refunds of originals in the file, refunds of originals outside it."""
    col = (
        dict(when="Effective Date & Time", type="Credit/Debit", kind="Kind", slug="Opposite Account Handle",
             name="Opposite Account Name", reverse="Is Reverse", reversed="Is Reversed", desc="Description")
        if dashboard
        else dict(when="datetime", type="type", kind="kind", slug="oppositeAccountSlug",
                  name="oppositeAccountName", reverse="isRefund", reversed="isRefunded", desc="description")
    )  # fmt: skip
    rows = list(csv.DictReader(path.open(encoding="utf-8-sig")))
    months: dict[str, Month] = defaultdict(Month)
    originals = set()
    for row in rows:
        if row[col["kind"]] != "CONTRIBUTION" or row[col["type"]] != "CREDIT" or row[col["reverse"]]:
            continue
        if dashboard:
            gift = Decimal(row["Amount Single Column"]) - Decimal(row["Payment Processor Fee"])
            gift -= Decimal(row["Tax Amount"])
            originals.add(row["Transaction ID"])
        else:
            gift = Decimal(row["amount"])
            originals.add(row["shortId"])
        if row[col["reversed"]]:
            continue  # refunded: stored, not counted
        month = months[month_of(row[col["when"]])]
        slug, name = row[col["slug"]], row[col["name"]]
        month.donations += 1
        month.donors.add(slug)
        month.totals[row["Currency" if dashboard else "currency"]] += gift
        if not slug.startswith(("guest-", "incognito-")) and name not in ("Incognito", ""):
            month.public += 1  # an account without a name is counted, never listed under its slug
        if row[col["desc"]].lower().startswith(("monthly contribution", "yearly contribution")):
            month.recurring.add(slug)
    inside = outside = 0
    for row in rows:
        if row[col["kind"]] == "CONTRIBUTION" and row[col["reverse"]]:
            target = row["Reverse Transaction ID"] if dashboard else row["shortRefundId"]
            if target in originals:
                inside += 1
            else:
                outside += 1
    return months, inside, outside


def imported(tmp_path: Path, capsys: pytest.CaptureFixture[str], *files: Path) -> tuple[Path, list[str]]:
    config = write_config(tmp_path, timezone=ZONE)
    outputs = []
    for path in files:
        code, out, err = cli(capsys, config, "import", "opencollective", str(path))
        assert code == 0, err
        outputs.append(out)
    return config, outputs


def stats(capsys: pytest.CaptureFixture[str], config: Path, month: str) -> dict[str, object]:
    code, out, err = cli(capsys, config, "stats", "--month", month, "--json")
    assert code == 0, err
    result: dict[str, object] = json.loads(out)
    return result


@pytest.mark.parametrize(
    ("path", "dashboard"),
    [(DASHBOARD, True), (TRANSACTIONS, False), (TRANSACTIONS_2, False), (TRANSACTIONS_3, False)],
    ids=["astro", "prettier", "hledger", "homebrew"],
)
def test_each_month_equals_a_computation_from_the_csv(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
    dashboard: bool,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    months, inside, outside = expected(path, dashboard)
    assert len(months) >= 3 and inside >= 1
    config, [out] = imported(tmp_path, capsys, path)
    assert f"refunds applied: {inside}" in out
    if outside:
        assert f"refunds kept until their donation arrives: {outside}" in out
    for key, month in sorted(months.items()):
        figures = stats(capsys, config, key)
        assert figures["donations"] == month.donations, key
        assert figures["donors"] == len(month.donors), key
        assert figures["totals"] == {
            code: str(total.quantize(Decimal("0.01"))) for code, total in month.totals.items()
        }, key
        assert figures["public_donors_listed"] == month.public, key
        assert figures["recurring_donors"] == len(month.recurring), key
        assert figures["organisations"] == 0  # the default exports carry no account type


@pytest.mark.parametrize("path", [DASHBOARD, TRANSACTIONS, TRANSACTIONS_2, TRANSACTIONS_3])
def test_incognito_and_guests_are_counted_never_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    config, _ = imported(tmp_path, capsys, path)
    names = {row[0] for row in query(config, "SELECT display_name FROM donations")}
    assert "Incognito" not in names
    assert not [n for n in names if n and not n.startswith("Donor ")]
    text = path.read_text(encoding="utf-8")
    assert "Incognito" in text or "guest-" in text  # the file has some to hide


def test_the_export_is_told_by_its_header_and_a_second_import_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.sources.opencollective import OpenCollectiveImporter

    assert OpenCollectiveImporter().variant(DASHBOARD) == "dashboard"
    assert OpenCollectiveImporter().variant(TRANSACTIONS) == "transactions"
    assert OpenCollectiveImporter().variant(TRANSACTIONS_2) == "transactions"
    monkeypatch.setenv(KEY_ENV, KEY)
    _, [first, again] = imported(tmp_path, capsys, DASHBOARD, DASHBOARD)
    assert "imported: 0" in again and "refunds applied: 0" in again
    assert "imported: 0" not in first


def test_a_near_miss_header_names_the_closest_export_and_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    lines = DASHBOARD.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "renamed.csv"
    broken.write_text("\n".join([lines[0].replace('"Amount Single Column"', '"Amount"'), *lines[1:5]]) + "\n")
    config = write_config(tmp_path)
    for extra in ((), ("--skip-invalid",)):
        code, _, err = cli(capsys, config, "import", "opencollective", str(broken), *extra)
        assert code == 1
        assert "the closest is the dashboard export" in err and "missing column Amount Single Column" in err
        assert "--skip-invalid" not in err  # no row could be skipped: the file is of another kind
