"""`donorbot forget` and `donorbot export-donor` on a real ledger filled by the importers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sources_support import FIXTURES, KEY, KEY_ENV, cli, query, write_config


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.setenv(KEY_ENV, KEY)
    path = write_config(tmp_path)
    for platform, file in (
        ("paypal", FIXTURES / "paypal" / "activity_us.csv"),
        ("opencollective", FIXTURES / "opencollective" / "transactions.csv"),
        ("github-sponsors", FIXTURES / "github_sponsors" / "sponsors.csv"),
    ):
        code, _, err = cli(capsys, path, "import", platform, str(file))
        assert code == 0, err
    return path


def totals(config: Path) -> list[tuple[object, ...]]:
    return query(
        config, "SELECT month, currency, donations, amount FROM month_totals ORDER BY month, currency"
    )


def test_export_donor_by_email_shows_everything_held(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, config, "export-donor", "  BIG@example.com ")
    assert code == 0, err
    exported = json.loads(out)
    assert exported["identity"] == "email:big@example.com"
    assert [
        (d["source"], d["external_id"], d["amount_minor"], d["currency"]) for d in exported["donations"]
    ] == [("paypal", "5DN00000000000002", 125_000, "USD")]
    assert "BIG@example.com".lower() not in json.dumps(exported["donations"])


def test_export_donor_by_platform_id(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, config, "export-donor", "github:octocat")
    assert code == 0
    donations = json.loads(out)["donations"]
    assert {(d["external_id"], d["status"], d["display_name"]) for d in donations} == {
        ("ch_1001", "succeeded", "The Octocat"),
        ("ch_1004", "refunded", "The Octocat"),
    }


def test_forget_unlinks_the_person_and_keeps_them_one_donor(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = totals(config)
    stats_before = query(config, "SELECT month, donations, donors, anonymous, new_donors FROM month_stats")
    (old_key,) = {
        row[0] for row in query(config, "SELECT donor_key FROM donations WHERE external_id = 'ch_1001'")
    }
    code, out, err = cli(capsys, config, "forget", "github:octocat")
    assert code == 0, err
    assert "github:octocat: forgotten" in out
    assert "donations unlinked (still counted, as one person): 2" in out and "names removed: 2" in out
    rows = query(
        config, "SELECT donor_key, display_name FROM donations WHERE external_id IN ('ch_1001', 'ch_1004')"
    )
    assert [name for _, name in rows] == [None, None]
    keys = {key for key, _ in rows}
    assert len(keys) == 1 and None not in keys and old_key not in keys  # one person, under a new key
    assert query(config, "SELECT count(*) FROM donors WHERE donor_key = ?", (old_key,)) == [(0,)]
    assert totals(config) == before
    assert (
        query(config, "SELECT month, donations, donors, anonymous, new_donors FROM month_stats")
        == stats_before
    )
    code, out, _ = cli(capsys, config, "export-donor", "github:octocat")
    exported = json.loads(out)
    assert exported["donations"] == [] and exported["summary"] is None and exported["months"] == []

    # Idempotent: a second erasure changes nothing and says so.
    code, out, _ = cli(capsys, config, "forget", "github:octocat")
    assert code == 0 and "nothing changed" in out
    assert totals(config) == before


def test_forget_a_public_open_collective_donor(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert query(config, "SELECT count(*) FROM donations WHERE display_name = 'Alice Liddell'") == [(1,)]
    code, out, _ = cli(capsys, config, "forget", "opencollective:alice")
    assert code == 0 and "names removed: 1" in out
    assert query(config, "SELECT count(*) FROM donations WHERE display_name = 'Alice Liddell'") == [(0,)]
    # Erased means erased from the files too (database, WAL), not just unlinked from a row.
    for file in (config.parent / "data").iterdir():
        assert b"Alice Liddell" not in file.read_bytes(), file


def test_a_donor_argument_that_is_neither_email_nor_platform_id(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, config, "forget", "octocat")
    assert code == 2 and "give an email, or a platform id as PLATFORM:ID" in err
    code, _, err = cli(capsys, config, "export-donor", "octocat")
    assert code == 2
