"""After ``donorbot forget``, no byte of the ledger's files holds the person: the database, its
``-wal`` and ``-shm``, read raw, while ``donorbot run`` keeps the ledger open in another process."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

KEY_ENV = "DONORBOT_PSEUDONYM_KEY"
KEY = "a-pseudonym-key-long-enough-for-tests"
KOFI_ENV, KOFI_TOKEN = "T_KOFI", "kofi-verification-token-5f1c"
GITHUB_ENV, GITHUB_SECRET = "T_GITHUB", "It's a Secret to Everybody"

# What must leave the files: easy to find, impossible to meet by chance.
EMAIL = "zoelle.quixotebrand@example.org"
NAME = "Zoëlle Quixotebrand"
MESSAGE = "Xylophone marmalade for the servers, 7731"
LOGIN, GH_NAME = "octoquirkington", "Octavia Quirkington"


def env() -> dict[str, str]:
    return {**os.environ, KEY_ENV: KEY, KOFI_ENV: KOFI_TOKEN, GITHUB_ENV: GITHUB_SECRET}


def write_config(folder: Path) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""
[project]
name = "Donor Friends"
timezone = "Europe/Paris"
data_dir = "data"

[webhooks]
port = 0

[webhooks.kofi]
secret_env = "{KOFI_ENV}"

[webhooks.github_sponsors]
secret_env = "{GITHUB_ENV}"

[[targets]]
name = "console"
platform = "console"
thanks = true
""",
        encoding="utf-8",
    )
    return path


def donorbot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        capture_output=True, text=True, env=env(), timeout=120,
    )  # fmt: skip


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """``donorbot run`` as its own process; yields (config, webhook base URL)."""
    config = write_config(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "webhooks on http://" in line, line
        yield config, line.split("webhooks on ")[1].strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(answer.status)


def kofi(base: str, n: int, *, email: str, name: str, message: str) -> int:
    payload = {
        "verification_token": KOFI_TOKEN,
        "message_id": f"m-{n}",
        "kofi_transaction_id": f"tx-{n}",
        "timestamp": f"2026-10-{n % 27 + 1:02d}T10:00:00Z",
        "type": "Donation",
        "is_public": True,
        "from_name": name,
        "message": message,
        "amount": "5.00",
        "currency": "EUR",
        "email": email,
        "is_subscription_payment": False,
        "is_first_subscription_payment": False,
    }
    body = urllib.parse.urlencode({"data": json.dumps(payload)}).encode()
    return post(f"{base}/webhooks/kofi", body, {"Content-Type": "application/x-www-form-urlencoded"})


def sponsor(base: str, login: str, name: str, node: str) -> int:
    body = json.dumps(
        {
            "action": "created",
            "sponsorship": {
                "node_id": node,
                "created_at": "2026-10-12T19:24:46+00:00",
                "privacy_level": "public",
                "sponsor": {"login": login, "id": 91, "type": "User", "name": name},
                "sponsorable": {"login": "maintainer", "id": 2},
                "tier": {"monthly_price_in_cents": 500, "name": "$5 a month", "is_one_time": False},
            },
            "sender": {"login": login, "id": 91},
        }
    ).encode()
    signature = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "sponsorship",
        "X-GitHub-Delivery": node,
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/json",
    }
    return post(f"{base}/webhooks/github-sponsors", body, headers)


def pseudonym(identity: str) -> str:
    return hmac.digest(KEY.encode(), identity.encode(), "sha256").hex()[:32]


def ledger_files(config: Path) -> dict[str, bytes]:
    folder = config.parent / "data"
    # The ledger, its -wal and -shm, and the webhook intake's spool (donorbot.intake.sqlite3*).
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and ".sqlite3" in p.name}


def needles(*texts: str) -> list[bytes]:
    out = []
    for text in texts:
        out += [text.encode("utf-8"), text.encode("utf-16-le"), text.lower().encode()]
    return out


def test_forget_while_run_runs_leaves_no_byte_of_the_donor_in_the_database_wal_or_shm(
    running: tuple[Path, str],
) -> None:
    config, base = running
    for n in range(40):  # others, before and after: the donor's rows sit among theirs, on shared pages
        assert kofi(base, n, email=f"other{n}@example.org", name=f"Other {n}", message=f"note {n}") == 200
        if n in (10, 20, 30):
            assert kofi(base, 100 + n, email=EMAIL, name=NAME, message=MESSAGE * (1 + n // 10)) == 200
    assert kofi(base, 200, email=EMAIL, name=NAME, message=MESSAGE * 120) == 200  # spills to overflow pages
    assert sponsor(base, LOGIN, GH_NAME, "MDExOlNwb25zb3JzaGlwOTk5") == 200
    secret = [
        *needles(NAME, MESSAGE, EMAIL, LOGIN, GH_NAME),
        pseudonym(f"email:{EMAIL}").encode(),
        pseudonym(f"github:{LOGIN}").encode(),
    ]
    # A delivery answered 200 may still be queued in the intake spool: wait until it is stored.
    deadline = time.monotonic() + 60
    before = ledger_files(config)
    while not any(NAME.encode() in data for data in before.values()):
        assert time.monotonic() < deadline, "the donor was stored"
        time.sleep(0.2)
        before = ledger_files(config)
    assert "donorbot.sqlite3-wal" in before, "run keeps the ledger in WAL mode"

    # Right of access first: everything held, thanks owed or posted by name included.
    exported = json.loads(donorbot(config, "export-donor", EMAIL).stdout)
    assert len(exported["donations"]) == 4 and {d["display_name"] for d in exported["donations"]} == {NAME}
    assert [t["donation"] for t in exported["thanks"]] == ["tx-110", "tx-120", "tx-130", "tx-200"]
    assert [m["month"] for m in exported["months"]] == ["2026-10"]

    for who, thanks in ((EMAIL, 4), (f"github:{LOGIN}", 1)):
        done = donorbot(config, "forget", who)
        assert done.returncode == 0, done.stderr
        assert "forgotten" in done.stdout and "warning" not in done.stderr
        assert f"thanks deliveries removed: {thanks}" in done.stdout
        assert "done by the running donorbot run" in done.stderr  # the process holding the ledger

    after = ledger_files(config)
    for name, data in after.items():
        for needle in secret:
            assert needle not in data, f"{name} still holds {needle[:40]!r}"
    assert after.get("donorbot.sqlite3-wal", b"") == b"", "the WAL was truncated, with run still holding it"

    # run is still alive and well: it takes the next donation, and the figures kept the donor.
    assert kofi(base, 300, email="late@example.org", name="Late", message="hi") == 200
    stats = json.loads(donorbot(config, "stats", "--month", "2026-10", "--json").stdout)
    assert stats["donors"] == 40 + 1 + 1 + 1 and stats["anonymous_donors"] == 0
    with sqlite3.connect(config.parent / "data" / "donorbot.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM donations WHERE display_name = ?", (NAME,)).fetchone() == (0,)


async def test_every_ledger_connection_sets_secure_delete(tmp_path: Path) -> None:
    """Set, not inherited: SQLite builds differ in their default (this one's is in compile_options)."""
    from zoneinfo import ZoneInfo

    from bot.ledger.store import Ledger

    ledger = await Ledger.open(tmp_path / "l.sqlite3", ZoneInfo("UTC"), KEY.encode())
    try:
        assert [tuple(r) for r in await ledger.query("PRAGMA secure_delete")] == [(1,)]
        async with ledger.writing() as db:
            cursor = await db.execute("PRAGMA secure_delete")
            assert tuple(await cursor.fetchone() or ()) == (1,)
    finally:
        await ledger.close()


def test_forget_deletes_what_the_intake_spool_set_aside_about_the_person(tmp_path: Path) -> None:
    """The spool keeps refused webhook deliveries (with the donor's email) for the maintainer."""
    from datetime import UTC, datetime

    from bot.ledger.models import NewDonation
    from bot.ledger.privacy import forget_in_spool
    from bot.sources.webhooks.spool import Spool

    def gift(n: int, email: str, name: str = NAME, message: str = MESSAGE) -> NewDonation:
        return NewDonation(
            source="kofi", external_id=f"tx-{n}", amount=500, currency="EUR",
            received_at=datetime(2026, 10, 2, tzinfo=UTC), donor_id=f"email:{email}",
            public=True, display_name=name, message=message,
        )  # fmt: skip

    path = tmp_path / "donorbot.intake.sqlite3"
    spool = Spool(path)
    try:
        refused = [
            spool.add("kofi", [gift(1, EMAIL)]),
            spool.add("kofi", [gift(2, "other@example.org", "Other", "hi")]),
        ]
        spool.add("kofi", [gift(3, EMAIL, "Zoe Q", "later")])  # still waiting for the ledger
        for entry in refused:
            spool.set_aside(entry, "amount out of range")
    finally:
        spool.close()
    assert forget_in_spool(path, f"email:{EMAIL}") == (1, 1)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM poison").fetchone() == (1,)  # the other person's stays
        assert db.execute("SELECT count(*) FROM entries").fetchone() == (1,)  # never a donation dropped
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert NAME.encode() not in data and MESSAGE.encode() not in data


async def test_export_donor_shows_every_table_that_holds_the_person_and_forget_clears_them(
    tmp_path: Path,
) -> None:
    """Aliases, reconciliation rows, per-month rollups: shown for the person, nobody else's; then gone."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.ledger.models import NewDonation, Reconcile
    from bot.ledger.store import Ledger

    ledger = await Ledger.open(tmp_path / "l.sqlite3", ZoneInfo("UTC"), KEY.encode())
    try:
        when = datetime(2026, 10, 2, 12, tzinfo=UTC)
        await ledger.write(
            [
                NewDonation(
                    source="stripe", external_id="ch_1", amount=900, currency="EUR", received_at=when,
                    donor_id=f"email:{EMAIL}", aliases=("pi_1",), reconcile=Reconcile("webhook", 3600),
                    public=True, display_name=NAME, message=MESSAGE,
                ),
                NewDonation(
                    source="stripe", external_id="ch_2", amount=500, currency="EUR", received_at=when,
                    donor_id="email:other@example.org", aliases=("pi_2",), public=True, display_name="Other",
                ),
            ]
        )  # fmt: skip
        exported = await ledger.export_donor(f"email:{EMAIL}")
        [donation] = exported["donations"]
        assert (donation["external_id"], donation["other_ids"], donation["reported_by"]) == (
            "ch_1",
            ["pi_1"],
            ["webhook"],
        )
        assert exported["months"] == [
            {"month": "2026-10", "donations": 1, "recurring": False, "organisation": False}
        ]
        assert exported["summary"] == {
            "first_month": "2026-10",
            "second_month": None,
            "last_month": "2026-10",
            "donations": 1,
        }
        assert "Other" not in str(exported) and "pi_2" not in str(exported) and "ch_2" not in str(exported)

        done = await ledger.forget(f"email:{EMAIL}")
        assert (done.donations, done.names_removed, done.messages_removed) == (1, 1, 1)
        assert await ledger.query("SELECT count(*) FROM donation_matches WHERE donation = 1") == [(0,)]
        emptied = await ledger.export_donor(f"email:{EMAIL}")
        assert (
            emptied["donations"] == emptied["months"] == emptied["thanks"] == []
            and emptied["summary"] is None
        )
        # The payment itself stays (its ids are the platform's, not the person's): a redelivery is no new gift.
        assert (await ledger.write([NewDonation(source="stripe", external_id="pi_1", amount=900, currency="EUR",
                                                received_at=when, donor_id=f"email:{EMAIL}")])).inserted == 0  # fmt: skip
    finally:
        await ledger.close()


async def test_an_idle_connection_of_another_holder_does_not_stop_the_truncating_checkpoint(
    tmp_path: Path,
) -> None:
    """Forgetting from a process other than the one holding the ledger open still empties the WAL."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.ledger.models import NewDonation
    from bot.ledger.store import Ledger

    path = tmp_path / "l.sqlite3"
    holder = await Ledger.open(path, ZoneInfo("UTC"), KEY.encode())  # like run: open, idle
    try:
        await holder.write(
            [
                NewDonation(
                    source="kofi",
                    external_id=f"tx-{n}",
                    amount=500,
                    currency="EUR",
                    received_at=datetime(2026, 10, 2, tzinfo=UTC),
                    donor_id=f"email:{EMAIL}",
                    public=True,
                    display_name=NAME,
                    message=MESSAGE,
                )
                for n in range(3)
            ]
        )
        await holder.query("SELECT count(*) FROM donations")  # its reader has read, and is idle again
        other = await Ledger.open(path, ZoneInfo("UTC"), KEY.encode())
        try:
            done = await other.forget(f"email:{EMAIL}")
        finally:
            await other.close()
        assert done.wal_truncated and (tmp_path / "l.sqlite3-wal").read_bytes() == b""
        files = list(tmp_path.iterdir())  # noqa: ASYNC240
        assert all(NAME.encode() not in p.read_bytes() for p in files)
        assert [tuple(r) for r in await holder.query("SELECT count(display_name) FROM donations")] == [(0,)]
    finally:
        await holder.close()
