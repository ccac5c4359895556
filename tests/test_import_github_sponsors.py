"""GitHub Sponsors dashboard CSV: parser and `donorbot import github-sponsors`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sources_support import FIXTURES, KEY, KEY_ENV, cli, donations, write_config

from bot.ledger.models import NewDonation, RefundEvent
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.github_sponsors import GitHubSponsorsImporter

TZ = ZoneInfo("Europe/Paris")
EXPORT = FIXTURES / "github_sponsors" / "sponsors.csv"  # starts with a BOM, has an unknown extra column


def rows() -> list[Parsed | Skipped | RowError]:
    return list(GitHubSponsorsImporter().rows(EXPORT, TZ))


def test_settled_transactions_are_donations_in_dollars() -> None:
    items = {
        r.item.external_id: r.item
        for r in rows()
        if isinstance(r, Parsed) and isinstance(r.item, NewDonation)
    }
    assert sorted(items) == ["ch_1001", "ch_1002", "ch_1003", "ch_1004"]
    octocat = items["ch_1001"]
    assert (octocat.amount, octocat.currency) == (500, "USD")
    assert octocat.received_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert octocat.public and octocat.display_name == "The Octocat" and octocat.recurring
    assert octocat.donor_id == "github:octocat"
    assert items["ch_1003"].amount == 100_000  # "$1,000.00"
    assert not items["ch_1003"].recurring  # a one-time tier


def test_private_sponsors_are_not_named() -> None:
    items = {
        r.item.external_id: r.item
        for r in rows()
        if isinstance(r, Parsed) and isinstance(r.item, NewDonation)
    }
    hubot = items["ch_1002"]
    assert not hubot.public and hubot.display_name is None and hubot.donor_id == "github:hubot"


def test_refunded_and_pending_rows() -> None:
    all_rows = rows()
    refunds = [r.item for r in all_rows if isinstance(r, Parsed) and isinstance(r.item, RefundEvent)]
    assert [r.external_id for r in refunds] == ["ch_1004"]
    assert [(r.line, r.reason) for r in all_rows if isinstance(r, Skipped)] == [(6, "status pending")]


def test_import_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    config = write_config(tmp_path)
    code, out, err = cli(capsys, config, "import", "github-sponsors", str(EXPORT))
    assert code == 0, err
    assert "imported: 4" in out and "refunds applied: 1" in out and "skipped, status pending: 1" in out
    stored = donations(config, "github-sponsors")
    assert stored["ch_1004"][-1] == "refunded"
    assert stored["ch_1002"][1] is None
    # One person, two transactions: one pseudonym.
    assert stored["ch_1001"][0] == stored["ch_1004"][0] is not None
