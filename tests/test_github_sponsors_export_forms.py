"""GitHub Sponsors: the export's two formats (CSV and JSON), its older transfers and repeated lines.

``sponsors-all-time.csv`` and ``.json`` are one account's real exports (scrubbed; see
``tests/fixtures/README.md``): the JSON was downloaded later and holds a real tier change
(``$1.07`` for the new tier, ``$-0.53`` for the old, under one Transaction ID).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sources_support import FIXTURES, KEY, KEY_ENV, cli, query, write_config

REAL_CSV = FIXTURES / "github_sponsors" / "real" / "sponsors-all-time.csv"
REAL_JSON = FIXTURES / "github_sponsors" / "real" / "sponsors-all-time.json"
TIER_CHANGE = "ch_3PZkOrEQsq43iHhX1DaZ9rfI"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, KEY)
    return write_config(tmp_path, timezone="America/New_York")


def charges_in_json() -> dict[str, int]:
    """Transaction ID -> net cents, computed here from the JSON."""
    charges: dict[str, int] = {}
    for sponsorship in json.loads(REAL_JSON.read_text(encoding="utf-8")):
        for transaction in sponsorship["transactions"]:
            cents = round(float(transaction["processed_amount"].replace("$", "")) * 100)
            charges[transaction["transaction_id"]] = charges.get(transaction["transaction_id"], 0) + cents
    return charges


@pytest.mark.parametrize(
    "order", [(REAL_CSV, REAL_JSON), (REAL_JSON, REAL_CSV)], ids=["csv-first", "json-first"]
)
def test_the_csv_and_the_json_of_one_account_store_each_charge_once(
    config: Path, capsys: pytest.CaptureFixture[str], order: tuple[Path, Path]
) -> None:
    for path in order:
        code, out, err = cli(capsys, config, "import", "github-sponsors", str(path))
        assert code == 0, err
    stored = dict(query(config, "SELECT external_id, amount FROM donations"))
    assert stored == charges_in_json()
    assert stored[TIER_CHANGE] == 107 - 53  # the real tier change, netted
    code, out, err = cli(capsys, config, "import", "github-sponsors", str(order[1]))
    assert "imported: 0" in out  # and again: nothing new


def test_the_json_export_names_only_public_sponsors(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, config, "import", "github-sponsors", str(REAL_JSON))
    assert code == 0, err
    assert "23 rows read" in out and "imported: 22" in out
    assert "skipped, netted into the first line of its Transaction ID: 1" in out
    names = {row[0] for row in query(config, "SELECT DISTINCT display_name FROM donations")}
    assert names == {None, "sponsor-c"}  # sponsor-a and sponsor-b sponsor privately


HEADER = (
    "Sponsor Handle,Sponsor Profile Name,Sponsor Public Email,Sponsorship Started On,Is Public?,Is Yearly?,"
    "Transaction ID,Payment Source,Tier Name,Tier Monthly Amount,Processed Amount,Is Prorated?,Status,"
    "Transaction Date,Metadata,Country,Region,VAT"
)


def test_older_transfers_without_transaction_id_are_each_a_payment_under_a_keyed_id(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Older (invoiced) transfers are written with no Transaction ID, tier, prorated flag nor status.
    export = tmp_path / "transfers.csv"
    export.write_text(
        HEADER + "\n"
        "some-org,Some Org,,2019-11-02 10:00:00 -0700,true,false,,invoice,,,$250.00,,,2019-11-05 09:00:00 -0800,,,,\n"
        "some-org,Some Org,,2019-11-02 10:00:00 -0700,true,false,,invoice,,,$250.00,,,2019-12-05 09:00:00 -0800,,,,\n"
        "someone,,,2019-11-02 10:00:00 -0700,false,false,ch_1Plain,github,$5 a month,$5.00,$5.00,false,settled,"
        '2019-12-02 10:00:00 -0800,"",USA,,\n',
        encoding="utf-8",
    )
    for _ in range(2):  # the keyed ids are the same on the second import
        code, out, err = cli(capsys, config, "import", "github-sponsors", str(export))
        assert code == 0, err
    assert "imported: 0" in out and "duplicates (already in the ledger or twice in the file): 3" in out
    rows = query(config, "SELECT external_id, amount, display_name FROM donations ORDER BY received_at")
    assert [(amount, name) for _, amount, name in rows] == [
        (25000, "Some Org"),
        (500, None),
        (25000, "Some Org"),
    ]
    transfer_ids = [external_id for external_id, amount, _ in rows if amount == 25000]
    assert all(external_id.startswith("k:") for external_id in transfer_ids)  # the handle is not in the id
    assert len(set(transfer_ids)) == 2


def test_a_charge_repeated_under_a_second_sponsorship_counts_once(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A sponsor's charges are listed under each of its sponsorships: same lines, another start date.
    line = '$3 a month,$3.00,$3.00,false,settled,2024-03-22 13:26:01 -0400,"",USA,,'
    export = tmp_path / "repeated.csv"
    export.write_text(
        HEADER + "\n"
        f"sponsor-d,,,2023-01-10 08:00:00 -0500,false,false,ch_3Repeated,github,{line}\n"
        f"sponsor-d,,,2024-03-01 08:00:00 -0500,false,false,ch_3Repeated,github,{line}\n",
        encoding="utf-8",
    )
    code, out, err = cli(capsys, config, "import", "github-sponsors", str(export))
    assert code == 0, err
    assert "skipped, repeated under another sponsorship: 1" in out
    assert query(config, "SELECT external_id, amount FROM donations") == [("ch_3Repeated", 300)]


def test_a_bad_json_transaction_is_named_by_its_place_and_rejected_into_a_json_file_that_imports_again(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sponsorships = json.loads(REAL_JSON.read_text(encoding="utf-8"))
    sponsorships[2]["transactions"][0]["processed_amount"] = (
        "one dollar seven"  # the tier change's first line
    )
    export = tmp_path / "export.json"
    export.write_text(json.dumps(sponsorships), encoding="utf-8")

    code, out, err = cli(capsys, config, "import", "github-sponsors", str(export))
    assert code == 1
    assert f"{export}: sponsorship 3, transaction 1: processed_amount:" in err
    assert "sponsorship 3, transaction 2: processed_amount:" in err  # the other line of that charge too
    assert query(config, "SELECT COUNT(*) FROM donations") == [(0,)]

    code, out, err = cli(capsys, config, "import", "github-sponsors", str(export), "--skip-invalid")
    assert code == 0, err
    rejected = tmp_path / "export.json.rejected.json"
    assert f"rejected (invalid): 2, written to {rejected}" in out
    assert rejected.stat().st_mode & 0o777 == 0o600
    entries = json.loads(rejected.read_text(encoding="utf-8"))
    assert [e["transactions"][0]["transaction_id"] for e in entries] == [TIER_CHANGE, TIER_CHANGE]
    assert entries[0]["transactions"][0]["rejected"]["column"] == "processed_amount"
    assert entries[0]["sponsor_handle"] == "sponsor-a"

    # Fixed in place, the rejected file imports as it is: the charge is complete again.
    for entry in entries:
        transaction = entry["transactions"][0]
        if transaction["processed_amount"] == "one dollar seven":
            transaction["processed_amount"] = "$1.07"
    rejected.write_text(json.dumps(entries), encoding="utf-8")
    code, out, err = cli(capsys, config, "import", "github-sponsors", str(rejected))
    assert code == 0, err
    stored = dict(query(config, "SELECT external_id, amount FROM donations"))
    assert stored == charges_in_json()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"sponsor_handle": "x"}', "not a JSON array"),
        (
            '[{"sponsor_handle": "x", "is_public": true, "transactions": []} {}]',
            "after element 1: `,` or `]`",
        ),
        ('[{"sponsor_handle": "x", "is_public": tru}]', "element 1: not valid JSON"),
        ('[{"sponsor_handle": "x", "is_public": true, "transactions": []}', "after element 1: `,` or `]`"),
        ("[1]", "element 1 is not an object"),
    ],
)
def test_a_json_file_that_is_not_an_export_is_refused_naming_where(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, problem: str
) -> None:
    export = tmp_path / "bad.json"
    export.write_text(text, encoding="utf-8")
    code, _out, err = cli(capsys, config, "import", "github-sponsors", str(export))
    assert code == 1
    if problem == "not a JSON array":  # an object: not the JSON export, so read as a CSV and refused
        assert "not a GitHub Sponsors export" in err
    else:
        assert f"{export}: {problem}" in err
    assert "nothing was imported" in err


def test_a_sponsorship_without_its_keys_is_a_row_error(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    export = tmp_path / "export.json"
    export.write_text('[{"login": "x", "amount": 5}]', encoding="utf-8")
    code, _out, err = cli(capsys, config, "import", "github-sponsors", str(export))
    assert code == 1
    assert "sponsorship 1: (sponsorship): no sponsor_handle, is_public, transactions" in err


def test_one_json_element_over_the_row_limit_is_refused_without_reading_the_rest(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    export = tmp_path / "huge.json"
    with export.open("w", encoding="utf-8") as handle:
        handle.write('[{"sponsor_handle": "x", "is_public": true, "metadata": "')
        handle.write("a" * (5 << 20))  # 5 MiB in one string: no export has an entry that size
        handle.write('", "transactions": []}]')
    code, _out, err = cli(capsys, config, "import", "github-sponsors", str(export))
    assert code == 1
    assert "element 1 runs over 4,194,304 characters" in err
