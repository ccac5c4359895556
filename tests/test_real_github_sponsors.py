"""GitHub Sponsors: the dashboard export (real files, scrubbed; tier changes) and octokit's webhook example.

Month figures are compared with a computation written here from the CSV or the JSON; the
two formats of one account's export store each charge once; the webhook's
``sponsorship.created`` and the export's first charge of that sponsorship are one
payment, in either order of arrival.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from serve_support import HOOKS, donorbot, post, serving
from sources_support import FIXTURES, KEY, KEY_ENV, cli, github_json_export, query, write_config
from webhook_support import github_headers

from bot.ledger.ids import hash_keyed

REAL = FIXTURES / "github_sponsors" / "real" / "sponsors-activitywatch.csv"
REAL_CSV = FIXTURES / "github_sponsors" / "real" / "sponsors-all-time.csv"
REAL_JSON = FIXTURES / "github_sponsors" / "real" / "sponsors-all-time.json"
TIER_CHANGES = FIXTURES / "github_sponsors" / "tier-change.csv"
OCTOKIT_CREATED = FIXTURES / "github_sponsors" / "octokit" / "sponsorship-created.payload.json"
ZONE = "Europe/Paris"


def money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def lines_of(path: Path) -> list[dict[str, str]]:
    """The export's charge lines under the CSV's column names (a JSON export flattened)."""
    if path.suffix == ".csv":
        return list(csv.DictReader(path.open(encoding="utf-8-sig")))
    lines = []
    for sponsorship in json.loads(path.read_text(encoding="utf-8")):
        for transaction in sponsorship["transactions"]:
            lines.append(
                {
                    "Sponsor Handle": sponsorship["sponsor_handle"],
                    "Is Public?": "true" if sponsorship["is_public"] else "false",
                    "Transaction ID": transaction["transaction_id"],
                    "Processed Amount": transaction["processed_amount"],
                    "Status": transaction["status"],
                    "Transaction Date": transaction["transaction_date"],
                }
            )
    return lines


def expected(path: Path) -> dict[str, dict[str, object]]:
    """Month -> donations, donors, USD total, public listings (from the CSV or the JSON)."""
    charges: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in lines_of(path):
        charges[row["Transaction ID"]].append(row)
    months: dict[str, dict[str, object]] = defaultdict(
        lambda: {"donations": 0, "donors": set(), "total": Decimal(0), "public": 0}
    )
    for lines in charges.values():
        first = lines[0]
        if first["Status"] != "settled":
            continue  # refunded: stored, then refunded; never counted
        when = datetime.fromisoformat(first["Transaction Date"]).astimezone(ZoneInfo(ZONE))
        month = months[f"{when.year}-{when.month:02d}"]
        month["donations"] += 1  # type: ignore[operator]
        month["donors"].add(first["Sponsor Handle"])  # type: ignore[attr-defined]
        month["total"] += sum(money(line["Processed Amount"]) for line in lines)  # type: ignore[operator]
        month["public"] += first["Is Public?"] == "true"  # type: ignore[operator]
    return months


@pytest.mark.parametrize("path", [REAL, REAL_CSV, REAL_JSON, TIER_CHANGES], ids=lambda p: p.name)
def test_each_month_equals_a_computation_from_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    config = write_config(tmp_path, timezone=ZONE)
    code, out, err = cli(capsys, config, "import", "github-sponsors", str(path))
    assert code == 0, err
    months = expected(path)
    assert len(months) >= 2
    for key, month in sorted(months.items()):
        code, out, err = cli(capsys, config, "stats", "--month", key, "--json")
        assert code == 0, err
        figures = json.loads(out)
        assert figures["donations"] == month["donations"], key
        assert figures["donors"] == len(month["donors"]), key  # type: ignore[arg-type]
        assert figures["totals"] == {"USD": str(month["total"])}, key
        assert figures["public_donors_listed"] == month["public"], key


def test_a_tier_change_is_one_payment_netted_not_refused_nor_overstated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    config = write_config(tmp_path, timezone=ZONE)
    code, out, err = cli(capsys, config, "import", "github-sponsors", str(TIER_CHANGES))
    assert code == 0, err
    assert "skipped, netted into the first line of its Transaction ID: 1" in out
    assert "refunds applied: 1" in out
    rows = dict(query(config, "SELECT external_id, amount FROM donations"))
    assert rows["ch_3PtierChange0001"] == 8000  # $100.00 and $-20.00 under one Transaction ID
    assert rows["ch_3PtierChange0005"] == 6784  # a prorated yearly charge: what was processed


@pytest.mark.parametrize("form", ["csv", "json"])
@pytest.mark.parametrize("webhook_first", [True, False])
async def test_octokit_sponsorship_created_and_its_charge_line_are_one_payment(
    tmp_path: Path, webhook_first: bool, form: str
) -> None:
    payload = json.loads(OCTOKIT_CREATED.read_text(encoding="utf-8"))
    sponsorship = payload["sponsorship"]
    assert sponsorship["node_id"] and sponsorship["sponsor"]["login"] == "monalisa"
    # The same sponsorship's first charge, as the dashboard export writes it (a prorated $4.52
    # for a $5 tier, eleven seconds after the sponsorship was created).
    export = tmp_path / "monalisa.csv"
    header = REAL.read_text(encoding="utf-8").splitlines()[0]
    export.write_text(
        header + "\n"
        "monalisa,Mona Lisa,,2019-12-20 19:24:46 +0000,true,false,ch_1GThisIsTheFirstCharge,$5 a month,$5.00,"
        '$4.52,true,settled,2019-12-20 19:24:57 +0000,"",USA,,\n'
        "monalisa,Mona Lisa,,2019-12-20 19:24:46 +0000,true,false,ch_1GThisIsTheNextCharge,$5 a month,$5.00,"
        '$5.00,false,settled,2020-01-20 19:25:01 +0000,"",USA,,\n',
        encoding="utf-8",
    )
    if form == "json":  # the same two charges as the JSON export writes them
        export = github_json_export(export)
    config = write_config(tmp_path, HOOKS, timezone="UTC")
    body = OCTOKIT_CREATED.read_bytes()

    async def webhook() -> None:
        async with serving(config) as url:
            for _ in range(2):  # a redelivery changes nothing
                status, _answer = await post(url + "/webhooks/github-sponsors", body, github_headers(body))
                assert status == 200

    async def import_csv() -> str:
        code, out, err = await donorbot(config, "import", "github-sponsors", str(export))
        assert code == 0, err
        return out

    if webhook_first:
        await webhook()
        out = await import_csv()
        assert "imported: 1" in out and "duplicates (already in the ledger or twice in the file): 1" in out
    else:
        assert "imported: 2" in await import_csv()
        await webhook()
    assert "imported: 0" in await import_csv()  # and again: every id is known now
    rows = query(config, "SELECT received_at, amount FROM donations ORDER BY received_at")
    assert len(rows) == 2  # the first charge once, and next month's charge
    assert rows[1][1] == 500
    assert rows[0][1] == (500 if webhook_first else 452)  # the first arrival's figures are kept
    ids = {row[0] for row in query(config, "SELECT external_id FROM donation_ids")}
    ids |= {row[0] for row in query(config, "SELECT external_id FROM donations")}
    assert {sponsorship["node_id"], "ch_1GThisIsTheFirstCharge"} <= ids


async def test_a_sponsorship_without_node_id_is_stored_under_a_keyed_id(tmp_path: Path) -> None:
    payload = json.loads(OCTOKIT_CREATED.read_text(encoding="utf-8"))
    del payload["sponsorship"]["node_id"]
    payload["sponsorship"]["privacy_level"] = "private"  # a public sponsor's login would be its name
    body = json.dumps(payload).encode()
    config = write_config(tmp_path, HOOKS, timezone="UTC")
    async with serving(config) as url:
        assert (await post(url + "/webhooks/github-sponsors", body, github_headers(body)))[0] == 200
    [(external_id,)] = query(config, "SELECT external_id FROM donations")
    assert external_id == hash_keyed(KEY.encode(), "github-sponsors", "monalisa:2019-12-20T19:24:46+00:00")
    data = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir() if p.is_file())
    assert b"monalisa" not in data
