"""``donorbot sync github-sponsors`` against a fake that executes GitHub's published GraphQL schema."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_config
from bot.core import Core
from bot.sources.webhooks import github_sponsors as webhook
from tests.sources_support import KEY, KEY_ENV, cli, github_json_export, query, write_config
from tests.sync_fakes.github import Activity, FakeGitHub, Sponsor
from tests.sync_fakes.server import ServerThread
from tests.sync_support import month_figures

MONTHS = ("2025-09", "2025-10", "2025-11")


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("GH_TOKEN", "ghp_donorbot")


def fill(fake: FakeGitHub, count: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    start = datetime(2025, 9, 1, tzinfo=UTC)
    for n in range(count):
        when = start + timedelta(seconds=rng.randrange(90 * 86400))
        sponsor = Sponsor(f"sponsor-{n}", f"Sponsor {n}", organisation=rng.random() < 0.1)
        if rng.random() < 0.7:  # most sponsorships are linked to their Sponsorship node
            sponsor.sponsorship_id = f"S_kwDO{n:08d}"
            sponsor.sponsorship_created = when + timedelta(seconds=rng.randrange(-30, 30))
        one_time = rng.random() < 0.25
        cents = rng.choice((100, 500, 1000, 2500)) if not one_time else rng.choice((2500, 10000))
        private = rng.random() < 0.3
        fake.activities.append(
            Activity(f"SA_{n:06d}", "NEW_SPONSORSHIP", when, sponsor, cents, one_time, private)
        )
        later = when + timedelta(days=rng.randrange(1, 40))
        roll = rng.random()
        if roll < 0.2:
            fake.activities.append(
                Activity(f"SA_{n:06d}_t", "TIER_CHANGE", later, sponsor, cents * 2, private=private)
            )
        elif roll < 0.35:
            fake.activities.append(Activity(f"SA_{n:06d}_c", "CANCELLED_SPONSORSHIP", later, sponsor, cents))
        elif roll < 0.4:
            fake.activities.append(Activity(f"SA_{n:06d}_r", "REFUND", later, sponsor, cents))


def expected(fake: FakeGitHub) -> dict[str, dict[str, Any]]:
    months: dict[str, dict[str, Any]] = defaultdict(lambda: {"donations": 0, "donors": set(), "cents": 0})
    for a in fake.activities:
        if a.action != "NEW_SPONSORSHIP":
            continue
        month = months[a.timestamp.strftime("%Y-%m")]
        month["donations"] += 1
        month["donors"].add(a.sponsor.login)
        month["cents"] += a.cents
    return {
        key: {
            "donations": v["donations"],
            "donors": len(v["donors"]),
            "totals": {"USD": str(Decimal(v["cents"]).scaleb(-2))},
        }
        for key, v in months.items()
    }


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, ServerThread]]:
    fake = FakeGitHub()
    fill(fake, 120)
    with ServerThread(fake.app) as server:
        yield fake, server


def github_config(directory: Path, url: str, extra: str = "") -> Path:
    return write_config(
        directory,
        f'[sources.github_sponsors]\ntoken_env = "GH_TOKEN"\napi_url = "{url}/graphql"\n{extra}',
        timezone="UTC",
    )


def test_new_sponsorships_are_stored_as_their_first_payment_and_the_rest_is_said_to_be_out_of_reach(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], github: tuple[FakeGitHub, ServerThread]
) -> None:
    fake, server = github
    config = github_config(tmp_path, server.url)
    code, out, err = cli(capsys, config, "sync", "github-sponsors")
    assert code == 0, out + err
    new = sum(1 for a in fake.activities if a.action == "NEW_SPONSORSHIP")
    assert f"  new: {new}\n" in out
    assert "  skipped, tier change (no payment in the API): " in out
    assert "  skipped, cancelled sponsorship (no payment in the API): " in out
    assert fake.queries and not fake.invalid, fake.invalid  # valid for GitHub's published schema
    assert [q["variables"]["first"] for q in fake.queries] == [100, 100]  # 120 + others: two pages
    assert (
        fake.queries[1]["variables"]["after"] == json.loads(json.dumps(fake.queries[1]["variables"]))["after"]
    )
    want = expected(fake)
    for month in MONTHS:
        assert month_figures(capsys, config, month) == want[month], month
    linked = [a for a in fake.activities if a.action == "NEW_SPONSORSHIP" and a.sponsor.sponsorship_id]
    ids = {row[0] for row in query(config, "SELECT external_id FROM donations")}
    assert {a.sponsor.sponsorship_id for a in linked} <= ids  # the webhook's sponsorship.node_id
    assert all(i.startswith(("S_", "k:")) for i in ids)  # without a node: a keyed id, no login in the clear
    private = [a.sponsor.name for a in fake.activities if a.private and a.action == "NEW_SPONSORSHIP"]
    named = {
        row[0] for row in query(config, "SELECT display_name FROM donations WHERE display_name IS NOT NULL")
    }
    assert private and not (named & set(private))
    assert query(config, "SELECT count(*) FROM donations WHERE kind = 'organisation'")[0][0] > 0
    code, out, _ = cli(capsys, config, "sync")
    assert code == 0 and "  new: 0\n" in out
    newest = max(a.timestamp for a in fake.activities)
    assert fake.queries[-1]["variables"]["since"] == (newest - timedelta(hours=1)).isoformat().replace(
        "+00:00", "Z"
    )
    late = Sponsor(
        "latecomer", "Late Comer", sponsorship_id="S_late", sponsorship_created=newest + timedelta(hours=2)
    )
    fake.activities.append(Activity("SA_late", "NEW_SPONSORSHIP", newest + timedelta(hours=2), late, 700))
    code, out, _ = cli(capsys, config, "sync")
    assert code == 0 and "  new: 1\n" in out
    assert query(config, "SELECT amount, display_name FROM donations WHERE external_id = 'S_late'") == [
        (700, "Late Comer")
    ]


@pytest.mark.parametrize("webhook_first", [True, False], ids=["webhook-then-sync", "sync-then-webhook"])
async def test_a_sponsorship_received_by_webhook_and_synced_is_stored_once(
    tmp_path: Path, github: tuple[FakeGitHub, ServerThread], webhook_first: bool
) -> None:
    fake, server = github
    config = load_config(github_config(tmp_path, server.url))
    activity = next(a for a in fake.activities if a.action == "NEW_SPONSORSHIP" and a.sponsor.sponsorship_id)
    assert activity.sponsor.sponsorship_created is not None
    body = json.dumps({
        "action": "created",
        "sponsorship": {
            "node_id": activity.sponsor.sponsorship_id,
            "created_at": activity.sponsor.sponsorship_created.isoformat().replace("+00:00", "Z"),
            "privacy_level": "private" if activity.private else "public",
            "sponsor": {"login": activity.sponsor.login, "id": 1, "type": "User"},
            "tier": {"monthly_price_in_cents": activity.cents, "is_one_time": activity.one_time},
        },
    }).encode()  # fmt: skip
    items = webhook.parse(body, {"X-GitHub-Event": "sponsorship"})
    assert isinstance(items, list)
    from bot.sources.sync.runner import build_sources, sync_once

    core = await Core.open(config)
    new = sum(1 for a in fake.activities if a.action == "NEW_SPONSORSHIP")
    try:
        [source], _ = build_sources(config)
        if webhook_first:
            assert (await core.ledger.write(items)).inserted == 1
            report = await sync_once(core.ledger, source)
            assert report.error is None and report.new == new - 1 and report.duplicates == 1
        else:
            report = await sync_once(core.ledger, source)
            assert report.error is None and report.new == new
            written = await core.ledger.write(items)
            assert written.inserted == 0 and written.duplicates == 1
        total = await core.ledger.query("SELECT count(*) FROM donations")
    finally:
        await core.close()
    assert total[0][0] == new


@pytest.mark.parametrize("form", ["csv", "json"])
@pytest.mark.parametrize("order", ["sync then import", "import then sync"])
def test_the_dashboard_export_adds_only_the_charges_the_api_cannot_see_in_either_order(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    github: tuple[FakeGitHub, ServerThread],
    order: str,
    form: str,
) -> None:
    fake, server = github
    config = github_config(tmp_path, server.url)
    charges = fake.write_export_csv(tmp_path / "sponsors.csv", datetime(2025, 12, 1, tzinfo=UTC))
    export = github_json_export(tmp_path / "sponsors.csv") if form == "json" else tmp_path / "sponsors.csv"
    first = sum(1 for a in fake.activities if a.action == "NEW_SPONSORSHIP")
    assert len(charges) > first  # renewals: charges the API does not list
    if order == "sync then import":
        assert cli(capsys, config, "sync")[0] == 0
        code, out, err = cli(capsys, config, "import", "github-sponsors", str(export))
        assert code == 0, err
        assert (
            f"  imported: {len(charges) - first}\n" in out
        )  # the first charges were the synced sponsorships
    else:
        code, out, err = cli(capsys, config, "import", "github-sponsors", str(export))
        assert code == 0, err
        code, out, err = cli(capsys, config, "sync")
        assert code == 0, out + err
        assert "  new: 0\n" in out and f"  duplicates (already in the ledger): {first}\n" in out
    months: dict[str, dict[str, Any]] = defaultdict(lambda: {"donations": 0, "donors": set(), "cents": 0})
    for login, when, cents in charges:
        month = months[when.strftime("%Y-%m")]
        month["donations"] += 1
        month["donors"].add(login)
        month["cents"] += cents
    for key in MONTHS:
        want = {"donations": months[key]["donations"], "donors": len(months[key]["donors"]),
                "totals": {"USD": str(Decimal(months[key]["cents"]).scaleb(-2))}}  # fmt: skip
        assert month_figures(capsys, config, key) == want, (order, key)
    assert query(config, "SELECT count(*) FROM donations") == [(len(charges),)]


def test_a_refused_github_token_names_its_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    github: tuple[FakeGitHub, ServerThread],
) -> None:  # fmt: skip
    _, server = github
    monkeypatch.setenv("GH_TOKEN", "ghp_revoked_token_value")
    config = github_config(tmp_path, server.url)
    code, out, err = cli(capsys, config, "sync")
    assert code == 1
    assert "sources.github_sponsors.token_env: the token in GH_TOKEN was refused by GitHub" in out
    assert "ghp_revoked_token_value" not in out + err
    assert query(config, "SELECT count(*) FROM donations") == [(0,)]


def test_an_organisation_s_sponsors_are_read_by_its_login(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], github: tuple[FakeGitHub, ServerThread]
) -> None:
    fake, server = github
    config = github_config(tmp_path, server.url, 'login = "an-org"\n')
    code, out, err = cli(capsys, config, "sync")
    assert code == 0, out + err
    assert fake.queries[0]["variables"]["login"] == "an-org" and not fake.invalid
    config = github_config(tmp_path, server.url, 'login = "nobody-here"\n')
    code, out, _ = cli(capsys, config, "sync")
    assert code == 1 and "sources.github_sponsors.login: GitHub has no account 'nobody-here'" in out


async def test_github_s_rate_limit_403_is_waited_out_until_its_reset(
    tmp_path: Path, github: tuple[FakeGitHub, ServerThread]
) -> None:
    from bot.sources.sync.runner import build_sources, sync_once

    fake, server = github
    fake.rate_limited, fake.reset_in = 1, 40
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    config = load_config(github_config(tmp_path, server.url))
    [source], _ = build_sources(config, sleep=sleep)
    core = await Core.open(config)
    try:
        report = await sync_once(core.ledger, source)
    finally:
        await core.close()
    assert report.error is None and report.new > 0  # not taken for a refused token
    assert len(waits) == 1 and 35 <= waits[0] <= 42  # until X-RateLimit-Reset, and a second
