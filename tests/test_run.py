"""``donorbot run``'s service with a fake clock: schedule maths, catch-up, milestone alerts, thanks.

The ledger is a real SQLite file; the webhook server listens on 127.0.0.1;
console targets print into a buffer. Nothing sleeps on the clock: "now" is
passed in.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.app import Service
from bot.config import Config, load_config
from bot.core import Core
from bot.ledger.models import NewDonation
from bot.months import Month
from bot.schedule import LocalCron, month_reported, next_runs

PARIS = ZoneInfo("Europe/Paris")
KEY_ENV = "DONORBOT_RUN_TEST_KEY"
KOFI_ENV = "DONORBOT_RUN_TEST_KOFI"
KOFI_TOKEN = "kofi-token-for-tests"


# --- schedule maths -------------------------------------------------------------------------------


def test_the_monthly_cron_fires_once_a_month_at_ten_local_across_both_dst_changes() -> None:
    runs = next_runs(LocalCron("0 10 1 * *", PARIS), datetime(2026, 1, 1, tzinfo=PARIS), 24)
    assert [(r.year, r.month) for r in runs] == [(2026 + (i // 12), i % 12 + 1) for i in range(24)]
    assert {(r.day, r.hour, r.minute) for r in runs} == {(1, 10, 0)}
    # Winter months at 09:00 UTC, summer months at 08:00 UTC: the wall clock is what counts.
    assert runs[0].astimezone(UTC).hour == 9 and runs[5].astimezone(UTC).hour == 8


def test_a_wall_time_that_happens_twice_fires_once_and_one_that_never_happens_still_fires() -> None:
    daily = LocalCron("30 2 * * *", PARIS)
    autumn = next_runs(daily, datetime(2026, 10, 24, 12, tzinfo=PARIS), 3)
    assert [r.day for r in autumn] == [25, 26, 27], "02:30 on 25 October happens twice: one run"
    spring = next_runs(daily, datetime(2026, 3, 28, 12, tzinfo=PARIS), 3)
    assert [r.day for r in spring] == [29, 30, 31], "02:30 on 29 March does not exist: run after the gap"
    assert spring[0].astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "03:00, the end of the gap"
    # APScheduler asks again with the previous fire time: never the same instant twice.
    previous, now, fired = None, datetime(2026, 10, 24, tzinfo=PARIS), []
    for _ in range(4):
        fire = daily.get_next_fire_time(previous, now)
        assert fire is not None
        fired.append(fire)
        previous = now = fire
    assert len({f.astimezone(UTC) for f in fired}) == 4
    assert [f.day for f in fired] == [24, 25, 26, 27]


def test_a_run_reports_the_month_before_its_fire_time_in_the_project_zone() -> None:
    # 1 January 00:30 in Paris is still 31 December in UTC.
    fire = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    assert month_reported(fire, PARIS) == Month(2025, 12)
    assert month_reported(fire, UTC) == Month(2025, 11)


# --- a running service ----------------------------------------------------------------------------


def write_config(folder: Path, *, targets: str, milestones: str = "", catch_up: int = 7) -> Config:
    path = folder / "config.toml"
    path.write_text(
        f"""
[project]
name = "Donor Friends"
timezone = "Europe/Paris"
base_currency = "EUR"
data_dir = "{folder / "data"}"

[ledger]
pseudonym_key_env = "{KEY_ENV}"

[schedule]
catch_up_days = {catch_up}

[milestones]
{milestones}

[webhooks]
port = 0

[webhooks.kofi]
secret_env = "{KOFI_ENV}"
{targets}
""",
        encoding="utf-8",
    )
    return load_config(path)


CONSOLE = """
[[targets]]
name = "console"
platform = "console"
alerts = true
thanks = true
"""


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "a-pseudonym-key-long-enough-for-tests")
    monkeypatch.setenv(KOFI_ENV, KOFI_TOKEN)


def donation(n: int, when: datetime, *, name: str | None = None) -> NewDonation:
    return NewDonation(
        source="manual",
        external_id=f"d{n}",
        amount=1000,
        currency="EUR",
        received_at=when,
        donor_id=f"donor-{n}",
        public=name is not None,
        display_name=name,
    )


async def seed(config: Config, donations: list[NewDonation]) -> None:
    core = await Core.open(config)
    try:
        await core.ledger.write(donations)
    finally:
        await core.close()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Callable[..., Service]]:
    """Build and start services; every one is stopped at the end."""
    started: list[Service] = []

    async def make(config: Config, clock: Clock, out: io.StringIO) -> Service:
        service = Service(config, clock=clock, retry_every=0, console=out)
        await service.start()
        started.append(service)
        return service

    yield make  # type: ignore[misc]
    for service in started:
        await service.stop()


async def deliveries(config: Config) -> dict[tuple[str, int, str], str]:
    core = await Core.open(config)
    try:
        rows = await core.ledger.query("SELECT kind, month, target, state FROM deliveries")
    finally:
        await core.close()
    return {(kind, month, target): state for kind, month, target, state in rows}


async def settle(service: Service) -> None:
    """Wait for the service's background work (catch-up, alerts) to finish."""
    while service._tasks:
        await asyncio.gather(*list(service._tasks), return_exceptions=True)


async def test_catch_up_posts_a_missed_bulletin_once_and_never_after_the_window(
    tmp_path: Path, running: Callable[..., Service]
) -> None:
    config = write_config(tmp_path, targets=CONSOLE)
    await seed(config, [donation(i, datetime(2026, 11, 10 + i, tzinfo=UTC)) for i in range(3)])
    out = io.StringIO()
    # Down on 1 December at 10:00 (the default cron), started on the 3rd: November is owed.
    service = await running(config, Clock(datetime(2026, 12, 3, 8, tzinfo=UTC)), out)
    await settle(service)
    assert (await deliveries(config))[("bulletin", 202611, "console")] == "sent"
    assert out.getvalue().count("Donor Friends – Monthly News") == 1
    assert "December 2026" in out.getvalue()
    await service.stop()

    again = io.StringIO()
    service = await running(config, Clock(datetime(2026, 12, 4, 8, tzinfo=UTC)), again)
    await settle(service)
    assert again.getvalue() == "", "a second start does not post the same month again"
    await service.stop()

    late = io.StringIO()
    service = await running(config, Clock(datetime(2027, 1, 9, 8, tzinfo=UTC)), late)
    await settle(service)
    assert late.getvalue() == "", "1 January was more than 7 days ago: no catch-up"
    assert ("bulletin", 202612, "console") not in await deliveries(config)


async def test_a_scheduled_run_posts_the_last_complete_month_once(
    tmp_path: Path, running: Callable[..., Service]
) -> None:
    config = write_config(tmp_path, targets=CONSOLE)
    await seed(config, [donation(1, datetime(2026, 10, 5, tzinfo=UTC))])
    out = io.StringIO()
    clock = Clock(
        datetime(2026, 10, 20, tzinfo=UTC)
    )  # nothing due: the last run was 1 October... for September
    service = await running(config, clock, out)
    await settle(service)
    posted_at_start = out.getvalue().count("Donor Friends – Monthly News")
    assert posted_at_start == 0, "September's bulletin ran on 1 October, more than 7 days before"

    clock.now = datetime(2026, 11, 1, 9, tzinfo=UTC)  # 10:00 in Paris
    await service.scheduled_run("console")
    await service.scheduled_run("console")  # APScheduler misfire, a second instance: still once
    assert out.getvalue().count("Donor Friends – Monthly News") == 1
    assert (await deliveries(config))[("bulletin", 202610, "console")] == "sent"
    assert service.next_runs()["bulletin:console"] is not None


async def kofi(service: Service, n: int, when: datetime, *, name: str = "Jo", public: bool = True) -> int:
    assert service.webhook_address is not None
    host, port = service.webhook_address
    payload = {
        "verification_token": KOFI_TOKEN,
        "message_id": f"m-{n}",
        "kofi_transaction_id": f"tx-{n}",
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": "Donation",
        "is_public": public,
        "from_name": name,
        "message": "Keep going!",
        "amount": "5.00",
        "currency": "EUR",
        "email": f"donor{n}@example.org",
        "is_subscription_payment": False,
        "is_first_subscription_payment": False,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://{host}:{port}/webhooks/kofi", data={"data": json.dumps(payload)}) as answer,
    ):
        return answer.status


async def test_a_webhook_donation_crossing_a_milestone_is_announced_once(
    tmp_path: Path, running: Callable[..., Service]
) -> None:
    config = write_config(
        tmp_path,
        targets=CONSOLE.replace("thanks = true", "thanks = false"),
        milestones="monthly_donors = [3, 5]\ntotal_donors = [1000]\ntotal_amount = [1000000]",
    )
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    await seed(config, [donation(i, now - timedelta(days=i + 1)) for i in range(2)])
    out = io.StringIO()
    service = await running(config, Clock(now), out)
    await settle(service)
    assert "people have given this month" not in out.getvalue()

    assert await kofi(service, 1, now) == 200  # the third donor this month
    await settle(service)
    assert out.getvalue().count("3 people have given this month") == 1

    assert await kofi(service, 2, now) == 200  # the fourth: no milestone
    assert await kofi(service, 1, now) == 200  # a redelivery: a duplicate, no new donor
    await settle(service)
    assert out.getvalue().count("people have given this month") == 1
    await service.stop()

    # A restart does not announce it again; an import by another process is noticed by the sweep.
    again = io.StringIO()
    service = await running(config, Clock(now), again)
    await seed(config, [donation(10 + i, now) for i in range(2)])  # donors five and six, imported
    await service.sweep()
    await settle(service)
    assert again.getvalue().count("5 people have given this month") == 1
    assert "3 people" not in again.getvalue()
    state = await deliveries(config)
    assert state[("alert:monthly_donors:3", 202611, "console")] == "sent"
    assert state[("alert:monthly_donors:5", 202611, "console")] == "sent"


async def test_a_started_bot_does_not_replay_old_milestones(
    tmp_path: Path, running: Callable[..., Service]
) -> None:
    config = write_config(tmp_path, targets=CONSOLE, milestones="monthly_donors = [2]")
    now = datetime(2026, 11, 20, tzinfo=UTC)
    await seed(config, [donation(i, datetime(2025, 3, 3 + i, tzinfo=UTC)) for i in range(4)])
    out = io.StringIO()
    service = await running(config, Clock(now), out)
    await settle(service)
    assert "people have given" not in out.getvalue()


async def test_thanks_name_public_donors_only_and_escape_what_they_wrote(
    tmp_path: Path, running: Callable[..., Service]
) -> None:
    # The Markdown a chat would receive (the console's plain text shows a name as typed).
    config = write_config(tmp_path, targets=CONSOLE + 'format = "markdown"\n')
    now = datetime(2026, 11, 20, tzinfo=UTC)
    out = io.StringIO()
    service = await running(config, Clock(now), out)
    await settle(service)
    assert await kofi(service, 1, now, name="@everyone **Bold** <b>x</b>") == 200
    assert await kofi(service, 2, now, name="Private Person", public=False) == 200
    await settle(service)
    text = out.getvalue()
    assert text.count("Thank you,") == 1, text
    assert "Private Person" not in text
    thanks = next(line for line in text.splitlines() if line.startswith("Thank you,"))
    assert "@everyone" not in thanks.replace("@\u200beveryone", ""), thanks
    assert "**Bold**" not in thanks and "<b>" not in thanks, thanks
    assert "1st donation" in thanks


async def test_metrics_count_webhooks_deliveries_and_rejections(
    tmp_path: Path, running: Callable[..., Service]
) -> None:
    config = write_config(tmp_path, targets=CONSOLE)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    service = await running(config, Clock(now), io.StringIO())
    assert await kofi(service, 1, now) == 200
    assert service.webhook_address is not None
    host, port = service.webhook_address
    async with aiohttp.ClientSession() as session:
        bad = {"data": json.dumps({"verification_token": "wrong", "type": "Donation"})}
        async with session.post(f"http://{host}:{port}/webhooks/kofi", data=bad) as answer:
            assert answer.status == 401
        await settle(service)
        async with session.get(f"http://{host}:{port}/metrics") as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"].startswith("text/plain")
            text = await answer.text()
    assert 'donorbot_webhook_requests_total{outcome="accepted",platform="kofi"} 1' in text
    assert 'donorbot_webhook_rejections_total{platform="kofi",reason="unauthorised"} 1' in text
    assert 'donorbot_donations_received_total{platform="kofi"} 1' in text
    assert 'donorbot_deliveries{state="sent",target="console"} 1' in text  # the thanks
    assert "donorbot_ledger_donations 1" in text


def test_donorbot_run_exits_on_sigterm_even_when_its_output_is_gone(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    config = write_config(tmp_path, targets=CONSOLE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config.source), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, KEY_ENV: "a-pseudonym-key-long-enough-for-tests", KOFI_ENV: KOFI_TOKEN},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "donorbot running" in proc.stdout.readline()
        proc.stdout.close()  # whoever read its output went away: "stopping" hits a broken pipe
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) in (0, 1)
    finally:
        if proc.poll() is None:
            proc.kill()
