"""One Open Collective payment, one donation: the dashboard export, the older export and the webhook.

The payments are a real month (August 2025) of a real collective's dashboard export
(scrubbed, see tests/fixtures/README.md). The same payments are then written as the older
``transactions.csv`` writes them (opencollective-rest's ``csvMapping``: ``shortId`` is the
uuid's first 8 characters, ``shortGroup`` the group's) and as the webhook sends them
(opencollective-api's ``sanitizeActivityForWebhookPayload`` with the transaction's
``info``: ``id`` the legacy id, ``uuid``, ``group``, amount in cents; an incognito
contributor reduced to ``{type, name, image}``). The dashboard export does not carry the
uuid, so the test makes one per transaction; everything else comes from the real rows.
Every order of the three routes must store each payment once and give the same month.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from serve_support import HOOKS, donorbot, post, serving
from sources_support import FIXTURES, query, write_config
from webhook_support import SECRETS

DASHBOARD = FIXTURES / "opencollective" / "real" / "astro-dashboard.csv"
MONTH = "2025-08"
ROUTES = ("dashboard", "transactions", "webhook")


def august() -> tuple[list[str], list[dict[str, str]]]:
    with DASHBOARD.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["Effective Date & Time"].startswith(MONTH)]
        return list(reader.fieldnames or []), rows


def the_uuid(legacy_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://opencollective.com/transactions/{legacy_id}"))


def gross(row: dict[str, str]) -> Decimal:
    return (
        Decimal(row["Amount Single Column"])
        - Decimal(row["Payment Processor Fee"])
        - Decimal(row["Tax Amount"])
    )


def dashboard_file(directory: Path) -> Path:
    header, rows = august()
    path = directory / "dashboard.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header, quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        writer.writerows(rows)
    return path


def transactions_file(directory: Path) -> Path:
    """The same month as the older export writes it (its default columns)."""
    _, rows = august()
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(["datetime", "shortId", "shortGroup", "description", "type", "kind", "isRefund", "isRefunded",
                     "shortRefundId", "displayAmount", "amount", "paymentProcessorFee", "netAmount", "balance",
                     "currency", "accountSlug", "accountName", "oppositeAccountSlug", "oppositeAccountName"])  # fmt: skip
    for row in rows:
        reverse = row["Reverse Transaction ID"]
        amount = gross(row) if row["Kind"] == "CONTRIBUTION" else Decimal(row["Amount Single Column"])
        if row["Credit/Debit"] == "DEBIT" and amount > 0:
            amount = -amount
        writer.writerow([row["Effective Date & Time"], the_uuid(row["Transaction ID"])[:8], row["Group ID"][:8],
                         row["Description"], row["Credit/Debit"], row["Kind"],
                         "REFUND" if row["Is Reverse"] else "", "REFUNDED" if row["Is Reversed"] else "",
                         the_uuid(reverse)[:8] if reverse else "", f"${amount} USD", float(amount),
                         float(row["Payment Processor Fee"] or 0), float(row["Amount Single Column"]), "", "USD",
                         row["Account Handle"], row["Account Name"], row["Opposite Account Handle"],
                         row["Opposite Account Name"]])  # fmt: skip
    path = directory / "transactions.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def legacy_file(directory: Path) -> Path:
    """The same month as the legacy download writes it (opencollective-frontend's columns): no ids,
    times in the downloader's zone (here the project's, UTC), a refund a negative amount."""
    _, rows = august()
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(["Transaction Description", "User Name", "User Profile", "Transaction Date",
                     "Collective Currency", "Host Currency", "Transaction Amount", "Host Fee (USD)",
                     "OpenCollective Fee (USD)", "Payment Processor Fee (USD)", "Net Amount (USD)",
                     "Subscription Interval", "Order Date"])  # fmt: skip
    for row in rows:
        if row["Kind"] not in ("CONTRIBUTION", "EXPENSE"):
            continue  # fees are columns of their contribution's row, not rows of their own
        amount = gross(row) if row["Kind"] == "CONTRIBUTION" else Decimal(row["Amount Single Column"])
        if row["Credit/Debit"] == "DEBIT" and amount > 0:
            amount = -amount
        description = row["Description"]
        interval = (
            "month"
            if description.startswith("Monthly")
            else "year"
            if description.startswith("Yearly")
            else "one time"
        )
        writer.writerow([("Refund of " + description) if row["Is Reverse"] else description,
                         row["Opposite Account Name"], f"https://opencollective.com/{row['Opposite Account Handle']}",
                         row["Effective Date & Time"].replace("T", " "), "USD", "USD", float(amount), 0.0, 0.0,
                         float(row["Payment Processor Fee"] or 0), float(row["Amount Single Column"]), interval,
                         row["Effective Date & Time"] + ".000Z"])  # fmt: skip
    path = directory / "legacy.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def webhook_payloads() -> list[dict[str, Any]]:
    """``collective.transaction.created`` for each credited contribution, as the server sanitises it."""
    _, rows = august()
    payloads = []
    for number, row in enumerate(rows):
        if row["Kind"] != "CONTRIBUTION" or row["Credit/Debit"] != "CREDIT":
            continue
        name, slug = row["Opposite Account Name"], row["Opposite Account Handle"]
        incognito = name == "Incognito"
        payloads.append({
            "createdAt": row["Effective Date & Time"] + ".120Z",
            "id": 900_000 + number,
            "type": "collective.transaction.created",
            "CollectiveId": 4242,
            "data": {
                "transaction": {
                    "id": int(row["Transaction ID"]), "uuid": the_uuid(row["Transaction ID"]),
                    "group": row["Group ID"], "type": "CREDIT", "kind": "CONTRIBUTION",
                    "description": row["Description"], "amount": int(gross(row) * 100), "currency": "USD",
                    "createdAt": row["Effective Date & Time"] + ".000Z", "clearedAt": None,
                    "CollectiveId": 4242, "FromCollectiveId": 1000 + number, "isRefund": False, "isDebt": False,
                    "amountInHostCurrency": int(gross(row) * 100), "hostCurrency": "USD",
                },
                "fromCollective": {"type": "USER", "name": "Incognito", "image": None} if incognito
                else {"idV2": f"acc-{number}", "id": 1000 + number, "type": "USER", "slug": slug, "name": name},
                "collective": {"id": 4242, "type": "COLLECTIVE", "slug": "astrodotbuild", "name": "Astro"},
            },
        })  # fmt: skip
    return payloads


def expected(*, count_refunded: bool = False) -> dict[str, object]:
    _, rows = august()
    counted = [
        row for row in rows
        if row["Kind"] == "CONTRIBUTION" and row["Credit/Debit"] == "CREDIT"
        and (count_refunded or not row["Is Reversed"])
    ]  # fmt: skip
    return {
        "donations": len(counted),
        "donors": len({row["Opposite Account Handle"] for row in counted}),
        "totals": {"USD": str(sum((gross(row) for row in counted), Decimal(0)).quantize(Decimal("0.01")))},
        "public_donors_listed": sum(
            1 for row in counted
            if row["Opposite Account Name"] != "Incognito" and not row["Opposite Account Handle"].startswith("guest-")
        ),
    }  # fmt: skip


ORDERS = [
    *itertools.permutations(ROUTES),
    # The legacy download shares no id with any route: it is matched on donor, amount and a day.
    *((route, "legacy") for route in ROUTES),
    *(("legacy", route) for route in ROUTES),
]


@pytest.mark.parametrize("order", ORDERS, ids="-then-".join)
async def test_every_order_of_the_routes_stores_each_payment_once(
    tmp_path: Path, order: tuple[str, ...]
) -> None:
    config = write_config(tmp_path, HOOKS, timezone="UTC")
    files = {
        "dashboard": dashboard_file(tmp_path),
        "transactions": transactions_file(tmp_path),
        "legacy": legacy_file(tmp_path),
    }
    payloads = webhook_payloads()
    assert len(payloads) >= 10
    credited = len(payloads)
    # Only the two id-bearing exports say which contribution a refund returned.
    refund_known = bool({"dashboard", "transactions"} & set(order))
    for route in order:
        if route == "webhook":
            async with serving(config) as url:
                for payload in payloads:
                    status, answer = await post(
                        f"{url}/webhooks/opencollective/{SECRETS['T_OC']}", json.dumps(payload).encode(), {}
                    )
                    assert status == 200, answer
        else:
            code, out, err = await donorbot(config, "import", "opencollective", str(files[route]))
            assert code == 0, err
    assert query(config, "SELECT count(*) FROM donations") == [(credited,)]
    refunded = query(config, "SELECT count(*) FROM donations WHERE status = 'refunded'")
    assert refunded == [(1 if refund_known else 0,)]
    code, out, err = await donorbot(config, "stats", "--month", MONTH, "--json")
    assert code == 0, err
    figures = json.loads(out)
    want = expected(count_refunded=not refund_known)
    assert {key: figures[key] for key in want} == want
    names = {
        row[0] for row in query(config, "SELECT display_name FROM donations WHERE display_name IS NOT NULL")
    }
    _, rows = august()
    hidden = {
        r["Opposite Account Name"]
        for r in rows
        if r["Opposite Account Handle"].startswith(("guest-", "user-"))
    }
    assert hidden and not names & hidden  # guests and incognito contributors: counted, never named


async def test_an_account_without_a_name_is_counted_never_listed_under_its_slug(tmp_path: Path) -> None:
    # A real export has a contribution from `user-7253edc6` with an empty name; the webhook the same.
    payload = webhook_payloads()[0]
    payload["data"]["fromCollective"].update(slug="user-7253edc6", name="")
    config = write_config(tmp_path, HOOKS, timezone="UTC")
    body = json.dumps(payload).encode()
    async with serving(config) as url:
        status, _answer = await post(f"{url}/webhooks/opencollective/{SECRETS['T_OC']}", body, {})
        assert status == 200
    assert query(config, "SELECT display_name, donor_key IS NOT NULL FROM donations") == [(None, 1)]
