"""``donorbot sync`` against a fake Open Collective that executes the real GraphQL schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_config
from bot.core import Core
from bot.sources.sync.runner import build_sources, sync_once
from tests.sources_support import KEY, KEY_ENV, cli, query
from tests.sync_fakes.opencollective import Account, FakeOpenCollective
from tests.sync_fakes.server import ServerThread
from tests.sync_support import expected_months, fill_collective, month_figures, oc_config, uuid_of

MONTHS = ("2025-09", "2025-10", "2025-11")
Collective = tuple[FakeOpenCollective, ServerThread]


@pytest.fixture(autouse=True)
def pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture
def collective() -> Iterator[tuple[FakeOpenCollective, ServerThread]]:
    fake = FakeOpenCollective()
    fill_collective(fake, 240)
    with ServerThread(fake.app) as server:
        yield fake, server


def test_a_sync_stores_the_months_an_independent_computation_gives_and_a_second_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], collective: Collective
) -> None:
    fake, server = collective
    config = oc_config(tmp_path, server.url)
    code, out, err = cli(capsys, config, "sync")
    assert code == 0, err
    expected = expected_months(fake.transactions)
    contributions = sum(1 for t in fake.transactions if t.kind == "CONTRIBUTION" and t.type == "CREDIT")
    assert f"  new: {contributions}\n" in out
    assert "  refunds applied: " in out
    for month in MONTHS:
        assert month_figures(capsys, config, month) == expected[month], month
    assert fake.queries and not fake.invalid, (
        fake.invalid
    )  # every query the bot sent is valid for the real schema

    code, out, err = cli(capsys, config, "sync", "opencollective", "--json")
    assert code == 0, err
    [report] = json.loads(out)
    assert report["source"] == "opencollective" and report["ok"] and report["new"] == 0
    newest = max(t.created_at for t in fake.transactions if t.kind == "CONTRIBUTION")
    overlap = [t for t in fake.transactions if t.kind == "CONTRIBUTION" and t.type == "CREDIT"
               and t.created_at >= newest - timedelta(hours=1)]  # fmt: skip
    assert (
        report["duplicates"] == len(overlap) and report["cursor"] == newest.isoformat()
    )  # read again, stored once
    for month in MONTHS:
        assert month_figures(capsys, config, month) == expected[month], month


def test_pages_of_a_thousand_within_the_resolver_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeOpenCollective()
    fill_collective(fake, 2300)
    with ServerThread(fake.app) as server:
        config = oc_config(tmp_path, server.url)
        code, out, err = cli(capsys, config, "sync")
    assert code == 0, err
    contributions = sum(1 for t in fake.transactions if t.kind == "CONTRIBUTION")
    pages = -(-contributions // 1000)
    assert fake.limits == [1000] * pages and pages == 3
    assert [q["variables"]["offset"] for q in fake.queries] == [0, 1000, 2000]
    assert f"{contributions} record(s) read in {pages} request(s)" in out
    assert not fake.invalid
    expected = expected_months(fake.transactions)
    for month in MONTHS:
        assert month_figures(capsys, config, month) == expected[month]


def test_a_transaction_added_later_appears_at_the_next_sync_and_the_cursor_overlaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], collective: Collective
) -> None:
    fake, server = collective
    config = oc_config(tmp_path, server.url)
    assert cli(capsys, config, "sync")[0] == 0
    newest = max(t.created_at for t in fake.transactions)
    assert fake.queries[0]["variables"]["dateFrom"] is None  # the first sync reads everything
    # Committed late: created before the newest one already read, but within the overlap.
    fake.contribution(uuid_of(5000), newest - timedelta(minutes=20), 4200, Account("late", "Late Donor"))
    fake.contribution(uuid_of(5001), newest + timedelta(days=1), 1500, Account("next", "Next Donor"))
    code, out, err = cli(capsys, config, "sync")
    assert code == 0, err
    assert "  new: 2\n" in out
    date_from = datetime.fromisoformat(fake.queries[-1]["variables"]["dateFrom"].replace("Z", "+00:00"))
    assert date_from == newest - timedelta(hours=1)
    stored = {row[0] for row in query(config, "SELECT external_id FROM donations")}
    assert {uuid_of(5000)[:8], uuid_of(5001)[:8]} <= stored
    cursor = query(config, "SELECT cursor FROM sync_sources WHERE source = 'opencollective'")[0][0]
    assert datetime.fromisoformat(cursor) == newest + timedelta(days=1)
    code, out, _ = cli(capsys, config, "sync")
    assert "  new: 0\n" in out


def test_a_refund_made_after_a_sync_is_applied_at_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], collective: Collective
) -> None:
    fake, server = collective
    config = oc_config(tmp_path, server.url)
    assert cli(capsys, config, "sync")[0] == 0
    original = next(t for t in fake.transactions if t.kind == "CONTRIBUTION" and t.refunded_by is None
                    and t.created_at.strftime("%Y-%m") == "2025-10" and t.type == "CREDIT")  # fmt: skip
    before = month_figures(capsys, config, "2025-10")
    refund_time = max(t.created_at for t in fake.transactions) + timedelta(hours=2)
    fake.refund(original, uuid_of(7000), refund_time, kind="DISPUTE")
    code, out, err = cli(capsys, config, "sync")
    assert code == 0, err
    assert "  refunds applied: 1\n" in out and "  new: 0\n" in out
    after = month_figures(capsys, config, "2025-10")
    assert after == expected_months(fake.transactions)["2025-10"]
    assert after["donations"] == before["donations"] - 1
    assert query(config, "SELECT status FROM donations WHERE external_id = ?", (original.uuid[:8],)) == [
        ("disputed",)
    ]


def test_incognito_and_guest_contributors_are_counted_and_never_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], collective: Collective
) -> None:
    fake, server = collective
    config = oc_config(tmp_path, server.url)
    assert cli(capsys, config, "sync")[0] == 0
    private = [t for t in fake.transactions if t.kind == "CONTRIBUTION" and t.type == "CREDIT"
               and (t.account.is_incognito or t.account.slug.startswith("guest-"))]  # fmt: skip
    assert any(t.account.slug.startswith("user-") for t in private)
    assert any(t.account.slug.startswith("incognito-") for t in private)
    rows = query(
        config,
        f"SELECT display_name, donor_key FROM donations WHERE external_id IN ({','.join('?' * len(private))})",
        tuple(t.uuid[:8] for t in private),
    )
    assert len(rows) == len(private)
    assert all(name is None and key is not None for name, key in rows)  # counted as donors, never named
    assert query(config, "SELECT count(*) FROM donations WHERE display_name LIKE '%ncognito%'") == [(0,)]
    named = query(config, "SELECT count(*) FROM donations WHERE display_name = 'Donor 1'")[0][0]
    assert named >= 1  # public donors are named
    assert query(config, "SELECT count(*) FROM donations WHERE kind = 'organisation'")[0][0] > 0
    assert query(config, "SELECT count(*) FROM donations WHERE recurring = 1")[0][0] > 0


async def test_a_429_is_waited_out_as_its_retry_after_says(tmp_path: Path, collective: Collective) -> None:
    fake, server = collective
    config = load_config(oc_config(tmp_path, server.url))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    fake.rate_limited, fake.retry_after = 2, "7"
    [source], problems = build_sources(config, sleep=sleep)
    assert not problems
    core = await Core.open(config)
    try:
        report = await sync_once(core.ledger, source)
    finally:
        await core.close()
    assert report.error is None and report.new > 0
    assert waits == [7.0, 7.0]
    assert report.requests == 3  # two answered 429, the third went through
    assert len(fake.queries) == 1


async def test_anonymous_requests_keep_to_ten_a_minute(tmp_path: Path) -> None:
    fake = FakeOpenCollective()
    fill_collective(fake, 12000)  # 13 pages: more than ten requests
    clock = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    with ServerThread(fake.app) as server:
        config = load_config(oc_config(tmp_path, server.url))
        [source], _ = build_sources(config, sleep=sleep, clock=lambda: clock[0])
        batch = await source.fetch(None)
    assert batch.requests == 13 and len(fake.queries) == 13
    assert waits == [60.0]  # the 11th waits for the minute to turn; then the 12th and 13th fit in it


def test_a_long_rate_limit_fails_the_sync_which_stores_nothing_and_is_retried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], collective: Collective
) -> None:
    fake, server = collective
    config = oc_config(tmp_path, server.url)
    fake.rate_limited, fake.retry_after = 1, "3600"
    code, out, _err = cli(capsys, config, "sync")
    assert code == 1
    assert "rate limited (429, retry after 3600 s)" in out
    assert query(config, "SELECT count(*) FROM donations") == [(0,)]
    _, out, _ = cli(capsys, config, "status", "--json")
    sync = json.loads(out)["sync"][0]
    assert sync["source"] == "opencollective" and "429" in sync["last_error"] and sync["cursor"] is None
    assert cli(capsys, config, "sync")[0] == 0
    assert query(config, "SELECT count(*) FROM donations")[0][0] > 0


def test_a_refused_token_names_its_variable_never_its_value(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    collective: Collective,
) -> None:
    fake, server = collective
    fake.tokens = {"good-token-value"}
    config = oc_config(tmp_path, server.url, 'token_env = "OC_TOKEN"\n')
    monkeypatch.setenv("OC_TOKEN", "expired-token-value")
    code, out, err = cli(capsys, config, "sync")
    assert code == 1
    assert "sources.opencollective.token_env: the token in OC_TOKEN was refused by Open Collective" in out
    assert "expired-token-value" not in out + err  # the server repeats it: never shown
    assert query(config, "SELECT count(*) FROM donations") == [(0,)]
    _, out, _ = cli(capsys, config, "status")
    assert "expired-token-value" not in out and "OC_TOKEN was refused" in out
    monkeypatch.setenv("OC_TOKEN", "good-token-value")
    code, out, err = cli(capsys, config, "sync")
    assert code == 0, out + err
    assert fake.queries and not fake.invalid


def test_a_missing_token_variable_is_a_configuration_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    collective: Collective,
) -> None:
    _, server = collective
    config = oc_config(tmp_path, server.url, 'token_env = "OC_TOKEN"\n')
    monkeypatch.delenv("OC_TOKEN", raising=False)
    code, _, err = cli(capsys, config, "sync")
    assert code == 2
    assert "sources.opencollective.token_env: environment variable OC_TOKEN is not set" in err
    code, _, err = cli(capsys, config, "check-config")
    assert code == 2 and "sources.opencollective.token_env: environment variable OC_TOKEN is not set" in err
    monkeypatch.setenv("OC_TOKEN", "a-token")
    code, out, err = cli(capsys, config, "check-config")
    assert code == 0, err
    assert "  sync: opencollective (every 60 min)" in out


@pytest.mark.parametrize("failure", ["5xx", "schema", "network"])
def test_a_failed_sync_stores_nothing_keeps_its_cursor_and_the_next_one_recovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], collective: Collective, failure: str
) -> None:
    fake, server = collective
    config = oc_config(tmp_path, server.url)
    assert cli(capsys, config, "sync")[0] == 0
    stored = query(config, "SELECT count(*) FROM donations")[0][0]
    cursor = query(config, "SELECT cursor FROM sync_sources")[0][0]
    later = datetime.fromisoformat(cursor) + timedelta(hours=3)
    fake.contribution(uuid_of(6000), later, 900, Account("new", "New Donor"))
    fake.contribution(uuid_of(6001), later + timedelta(minutes=1), 800, Account("new2", "New Donor 2"))
    if failure == "5xx":
        fake.fail_with = 502
    elif failure == "schema":
        fake.garble = True
    else:
        config.write_text(config.read_text().replace(server.url, "http://127.0.0.1:9"), encoding="utf-8")
    code, out, _ = cli(capsys, config, "sync")
    assert code == 1 and "failed, nothing stored" in out
    expected = {
        "5xx": "HTTP 502",
        "schema": "unexpected answer at account.transactions.nodes",
        "network": "127.0.0.1:9",
    }
    assert expected[failure] in out
    assert query(config, "SELECT count(*) FROM donations")[0][0] == stored
    assert query(config, "SELECT cursor, failures FROM sync_sources") == [(cursor, 1)]
    fake.fail_with, fake.garble = None, False
    config.write_text(config.read_text().replace("http://127.0.0.1:9", server.url), encoding="utf-8")
    code, out, _ = cli(capsys, config, "sync")
    assert code == 0 and "  new: 2\n" in out
    row = query(config, "SELECT last_error, failures, syncs FROM sync_sources")[0]
    assert row == (None, 1, 2)


@pytest.mark.parametrize("export_format", ["dashboard", "transactions"])
@pytest.mark.parametrize("order", ["sync then import", "import then sync"])
def test_the_csv_export_and_the_sync_store_each_payment_once_in_either_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], collective: Collective, order: str, export_format: str
) -> None:
    fake, server = collective
    config = oc_config(tmp_path, server.url)
    if export_format == "dashboard":  # ids: the legacy id, the group; the sync knows them as aliases
        export = fake.write_dashboard_csv(tmp_path / "dashboard.csv")
    else:  # ids: the uuid's first 8 hex digits
        export = fake.write_transactions_csv(tmp_path / "transactions.csv")
    if order == "sync then import":
        assert cli(capsys, config, "sync")[0] == 0
        code, out, err = cli(capsys, config, "import", "opencollective", str(export))
        assert code == 0, err
        assert "  imported: 0\n" in out
    else:
        code, out, err = cli(capsys, config, "import", "opencollective", str(export))
        assert code == 0, err
        code, out, err = cli(capsys, config, "sync")
        assert code == 0, err
        assert "  new: 0\n" in out
    expected = expected_months(fake.transactions)
    for month in MONTHS:
        assert month_figures(capsys, config, month) == expected[month], (order, month)
    contributions = sum(1 for t in fake.transactions if t.kind == "CONTRIBUTION" and t.type == "CREDIT")
    assert query(config, "SELECT count(*) FROM donations") == [(contributions,)]
    # Whoever came first, no incognito contributor is named.
    assert query(config, "SELECT count(*) FROM donations WHERE display_name LIKE '%ncognito%'") == [(0,)]


def test_status_shows_each_source_s_last_sync_cursor_and_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], collective: Collective
) -> None:
    _, server = collective
    config = oc_config(tmp_path, server.url)
    _, out, _ = cli(capsys, config, "status")
    assert "opencollective: never synced" in out
    assert cli(capsys, config, "sync")[0] == 0
    _code, out, _ = cli(capsys, config, "status", "--json")
    [sync] = json.loads(out)["sync"]
    assert sync["source"] == "opencollective" and sync["last_error"] is None
    assert sync["last_success"] and sync["cursor"].startswith("2025-1")
    _, out, _ = cli(capsys, config, "status")
    tz = load_config(config).project.tz  # a person reads the project's wall clock

    def local(stamp: str) -> str:
        return datetime.fromisoformat(stamp).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")

    assert f"opencollective: last synced {local(sync['last_success'])}" in out
    assert f"cursor {local(sync['cursor'])}" in out


def test_sync_refuses_an_unknown_or_unconfigured_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = oc_config(tmp_path, "http://127.0.0.1:9")
    code, _, err = cli(capsys, config, "sync", "patreon")
    assert code == 2 and "unknown source 'patreon'" in err
    code, _, err = cli(capsys, config, "sync", "stripe")
    assert code == 2 and "[sources.stripe] is not in" in err
