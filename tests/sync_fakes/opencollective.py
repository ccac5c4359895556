"""A fake of Open Collective's GraphQL API v2, executing the real schema with graphql-core.

Every query is parsed and validated against ``opencollective_schemaV2.graphql``
(opencollective-api's ``server/graphql/schemaV2.graphql``) and executed by
graphql-core; a query the real API would refuse is refused here too (HTTP 400 with
``errors``, as the real server does), and recorded in ``invalid``. The
``transactions`` resolver follows ``TransactionsCollectionQuery.ts``: ``limit`` over
10,000 is an error, a missing or negative ``limit`` is 100, ``dateFrom`` is
``createdAt >= dateFrom``, ``kind`` and ``type`` filter, order by ``createdAt`` then id.
``Personal-Token`` is checked as ``checkPersonalToken`` does (401, the message naming
the token); a rate limit answers 429 ``{"error": {"message": ...}}`` with ``Retry-After``.

The fake also writes the transactions CSV export of the same transactions.
"""

from __future__ import annotations

import csv
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from graphql import graphql, parse, validate
from graphql.error import GraphQLError

from tests.sync_fakes import schema as schemas


@dataclass
class Account:
    slug: str
    name: str
    type: str = "INDIVIDUAL"  # AccountType
    is_incognito: bool = False

    def node(self) -> dict[str, Any]:
        typename = {"INDIVIDUAL": "Individual", "ORGANIZATION": "Organization", "COLLECTIVE": "Collective"}
        return {
            "__typename": typename.get(self.type, "Individual"),
            "id": f"acc-{self.slug}",
            "slug": self.slug,
            "name": self.name,
            "type": self.type,
            "isIncognito": self.is_incognito,
        }


@dataclass
class Transaction:
    uuid: str
    legacy_id: int
    created_at: datetime
    cents: int  # positive for credits, negative for debits, as Open Collective's ledger has them
    currency: str
    account: Account  # the opposite account
    type: str = "CREDIT"
    kind: str = "CONTRIBUTION"
    is_refund: bool = False
    refund_kind: str | None = None
    frequency: str = "ONETIME"
    refund_of: Transaction | None = None  # for a refund: its original
    refunded_by: Transaction | None = None  # for an original: its refund
    description: str = ""

    def node(self, depth: int = 0) -> dict[str, Any]:
        other = self.refunded_by or self.refund_of
        return {
            "__typename": "Credit" if self.type == "CREDIT" else "Debit",
            "id": self.uuid,
            "legacyId": self.legacy_id,
            "uuid": self.uuid,
            "publicId": f"tx_{self.uuid[:8]}",
            "group": self.uuid,
            "type": self.type,
            "kind": self.kind,
            "isRefund": self.is_refund,
            "isRefunded": (not self.is_refund) and self.refunded_by is not None,
            "refundKind": self.refund_kind,
            "createdAt": self.created_at.isoformat().replace("+00:00", "Z"),
            "amount": {
                "valueInCents": float(self.cents),
                "currency": self.currency,
                "value": self.cents / 100,
            },
            "oppositeAccount": self.account.node(),
            "order": {"id": f"order-{self.uuid}", "frequency": self.frequency}
            if self.kind == "CONTRIBUTION"
            else None,
            "refundTransaction": other.node(depth + 1) if other is not None and depth == 0 else None,
        }


@dataclass
class FakeOpenCollective:
    slug: str = "donor-friends"
    name: str = "Donor Friends"
    tokens: set[str] = field(default_factory=set)  # valid personal tokens
    transactions: list[Transaction] = field(default_factory=list)
    rate_limited: int = 0  # answer this many next requests with 429
    retry_after: str = "2"
    fail_with: int | None = None  # answer every request with this HTTP status
    garble: bool = False  # answer with a changed schema (amount as a string)
    queries: list[dict[str, Any]] = field(default_factory=list)  # every request body received
    invalid: list[str] = field(default_factory=list)  # validation errors of queries received
    limits: list[int] = field(default_factory=list)  # the limit of every transactions() call
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_legacy: int = 400000

    # --- building the collective's ledger ------------------------------------------------

    def contribution(
        self,
        uuid: str,
        when: datetime,
        cents: int,
        donor: Account,
        *,
        currency: str = "USD",
        frequency: str = "ONETIME",
    ) -> Transaction:
        with self._lock:
            self._next_legacy += 7
            tx = Transaction(uuid, self._next_legacy, when, cents, currency, donor, frequency=frequency,
                             description=("Monthly contribution" if frequency == "MONTHLY" else "Contribution")
                             + f" from {donor.name}")  # fmt: skip
            self.transactions.append(tx)
        return tx

    def other(
        self, uuid: str, when: datetime, cents: int, account: Account, *, type: str, kind: str
    ) -> Transaction:
        with self._lock:
            self._next_legacy += 7
            tx = Transaction(uuid, self._next_legacy, when, cents, "USD", account, type=type, kind=kind,
                             description=f"{kind.title()} {account.name}")  # fmt: skip
            self.transactions.append(tx)
        return tx

    def refund(self, original: Transaction, uuid: str, when: datetime, kind: str = "REFUND") -> Transaction:
        with self._lock:
            self._next_legacy += 7
            tx = Transaction(
                uuid, self._next_legacy, when, -original.cents, original.currency, original.account,
                type="DEBIT", kind=original.kind, is_refund=True, refund_kind=kind, refund_of=original,
                frequency=original.frequency, description=f"Refund of {original.description}",
            )  # fmt: skip
            original.refunded_by = tx
            original.refund_kind = kind
            self.transactions.append(tx)
        return tx

    # --- the resolver ----------------------------------------------------------------------

    def _transactions(self, info: Any, **args: Any) -> dict[str, Any]:
        limit = args.get("limit")
        offset = args.get("offset")
        if limit is None or limit < 0:
            limit = 100
        if offset is None or offset < 0:
            offset = 0
        if limit > 10000:
            raise GraphQLError(
                "Cannot fetch more than 10,000 transactions at the same time, please adjust the limit"
            )
        self.limits.append(limit)
        rows = list(self.transactions)
        if args.get("type"):
            rows = [t for t in rows if t.type == args["type"]]
        if args.get("kind"):
            rows = [t for t in rows if t.kind in args["kind"]]
        if args.get("isRefund") is not None:
            rows = [t for t in rows if t.is_refund == args["isRefund"]]
        if args.get("dateFrom"):
            start = _time(args["dateFrom"])
            rows = [t for t in rows if t.created_at >= start]
        if args.get("dateTo"):
            end = _time(args["dateTo"])
            rows = [t for t in rows if t.created_at <= end]
        order = args.get("orderBy") or {"field": "CREATED_AT", "direction": "DESC"}
        rows.sort(key=lambda t: (t.created_at, t.legacy_id), reverse=order.get("direction") == "DESC")
        page = rows[offset : offset + limit]
        nodes = [t.node() for t in page]
        return {
            "offset": offset,
            "limit": limit,
            "totalCount": len(rows),
            "nodes": nodes,
            "kinds": sorted({t.kind for t in rows}),
            "paymentMethodTypes": [],
        }

    def _account(self, info: Any, **args: Any) -> dict[str, Any] | None:
        if args.get("slug") != self.slug:
            return None
        return {
            "__typename": "Collective",
            "id": f"acc-{self.slug}",
            "slug": self.slug,
            "name": self.name,
            "type": "COLLECTIVE",
            "isIncognito": False,
            "transactions": self._transactions,
        }

    # --- HTTP ------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        if self.fail_with is not None:
            return web.Response(status=self.fail_with, text="<html>Bad gateway</html>")
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return web.json_response(
                {"error": {"message": "Rate limit exceeded. Create a Personal Token to get higher limits."}},
                status=429,
                headers={"Retry-After": self.retry_after},
            )
        token = request.headers.get("Personal-Token")
        if token is not None and token not in self.tokens:
            # As checkPersonalToken: Unauthorized, the message repeating the token.
            return web.json_response(
                {
                    "error": {
                        "code": 401,
                        "type": "unauthorized",
                        "message": f"Invalid Personal Token (Api Key): {token}",
                    }
                },
                status=401,
            )
        try:
            payload = json.loads(body)
        except ValueError:
            return web.json_response({"errors": [{"message": "body is not JSON"}]}, status=400)
        self.queries.append(payload)
        schema = schemas.load(schemas.OPENCOLLECTIVE)
        try:
            document = parse(payload["query"])
        except GraphQLError as exc:
            self.invalid.append(exc.message)
            return web.json_response({"errors": [{"message": exc.message}]}, status=400)
        errors = validate(schema, document)
        if errors:
            self.invalid += [e.message for e in errors]
            return web.json_response({"errors": [{"message": e.message} for e in errors]}, status=400)
        result = await graphql(
            schema,
            payload["query"],
            root_value={"account": self._account},
            variable_values=payload.get("variables") or {},
        )
        answer: dict[str, Any] = {"data": result.data}
        if self.garble and result.data and result.data.get("account"):
            # A server whose schema moved on: the amount is no longer what the bot asked for.
            for node in result.data["account"]["transactions"]["nodes"]:
                node["amount"] = {"value": "lots"}
        if result.errors:
            answer["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]
        return web.json_response(answer)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/graphql/v2", self.handle)
        return app

    # --- the CSV export of the same transactions -----------------------------------------

    def write_transactions_csv(self, path: Path) -> Path:
        """The collective's transactions export (``/v2/{slug}/transactions.csv``), default columns plus
        ``orderFrequency`` and ``oppositeAccountType``, times in UTC without an offset, newest first."""
        header = [
            "datetime", "shortId", "shortGroup", "description", "type", "kind", "isRefund", "isRefunded",
            "shortRefundId", "displayAmount", "amount", "paymentProcessorFee", "hostFee", "netAmount",
            "balance", "currency", "accountSlug", "accountName", "oppositeAccountSlug", "oppositeAccountName",
            "paymentMethodService", "paymentMethodType", "expenseType", "expenseTags", "payoutMethodType",
            "merchantId", "orderMemo", "orderFrequency", "oppositeAccountType",
        ]  # fmt: skip
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
            writer.writerow(header)
            for t in sorted(self.transactions, key=lambda t: t.created_at, reverse=True):
                amount = Decimal(t.cents) / 100
                other = t.refund_of if t.is_refund else t.refunded_by
                writer.writerow([
                    t.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), t.uuid[:8], t.uuid[:8],
                    t.description, t.type, t.kind, "REFUND" if t.is_refund else "",
                    "REFUNDED" if t.refunded_by is not None and not t.is_refund else "",
                    other.uuid[:8] if other is not None else "", f"${amount:.2f} {t.currency}", str(amount),
                    "0", "0", str(amount), "0", t.currency, self.slug, self.name, t.account.slug,
                    t.account.name, "STRIPE", "CREDITCARD", "", "", "", "", "",
                    t.frequency if t.kind == "CONTRIBUTION" else "", t.account.type,
                ])  # fmt: skip
        return path

    def write_dashboard_csv(self, path: Path) -> Path:
        """The dashboard's "Export CSV" of the same transactions, with its default columns (as in the
        real export of tests/fixtures/opencollective/real/astro-dashboard.csv): ``Transaction ID`` is
        the legacy id, ``Amount Single Column`` the net amount (here the gift less a 2.9% processor
        fee), a refund is a ``REVERSE`` debit naming its original's legacy id."""
        header = [
            "Effective Date & Time", "Transaction ID", "Description", "Credit/Debit", "Kind", "Group ID",
            "Amount Single Column", "Currency", "Is Reverse", "Is Reversed", "Reverse Transaction ID",
            "Account Handle", "Account Name", "Opposite Account Handle", "Opposite Account Name",
            "Payment Processor", "Payment Method", "Contribution Memo", "Expense Type", "Expense Tags",
            "Expense Payout Method Type", "Accounting Category Code", "Accounting Category Name", "Merchant ID",
            "Reverse Kind", "Payment Processor Fee", "Tax Amount",
        ]  # fmt: skip
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
            writer.writerow(header)
            for t in sorted(self.transactions, key=lambda t: t.created_at, reverse=True):
                fee = -(abs(t.cents) * 29 // 1000) if t.kind == "CONTRIBUTION" else 0
                fee = fee if t.cents > 0 else -fee  # a refund returns its fee too
                net = Decimal(t.cents + fee) / 100
                other = t.refund_of if t.is_refund else None
                writer.writerow([
                    t.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), t.legacy_id, t.description,
                    t.type, t.kind, t.uuid, net, t.currency, "REVERSE" if t.is_refund else "",
                    "REVERSED" if t.refunded_by is not None and not t.is_refund else "",
                    other.legacy_id if other is not None else "", self.slug, self.name, t.account.slug,
                    t.account.name, "STRIPE", "CREDITCARD", "", "", "", "", "", "", "",
                    (t.refund_kind or "REFUND") if t.is_refund else "", Decimal(fee) / 100, 0,
                ])  # fmt: skip
        return path


def _time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
