"""A fake of Stripe's list endpoints (charges, refunds, disputes), serving objects made from stripe-mock's fixtures.

The objects are ``stripe_fixtures.json`` (stripe/openapi ``openapi/fixtures3.json``) with
the fields a test sets changed. Lists behave as Stripe documents them: newest first,
``limit`` 1 to 100 (default 10), ``starting_after`` an object id of the list,
``created[gte]`` and friends, ``expand[]`` of ``data.charge`` on refunds; an unknown
parameter is a 400 ``invalid_request_error``; a key not known is a 401 ("Invalid API Key
provided"), as the real API answers.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = json.loads((Path(__file__).parent / "stripe_fixtures.json").read_text(encoding="utf-8"))
_LIST_PARAMS = {
    "charges": {"created", "customer", "ending_before", "expand", "limit", "payment_intent", "starting_after",
                "transfer_group"},
    "refunds": {"charge", "created", "ending_before", "expand", "limit", "payment_intent", "starting_after"},
    "disputes": {"charge", "created", "ending_before", "expand", "limit", "payment_intent", "starting_after"},
    "invoice_payments": {"created", "ending_before", "expand", "invoice", "limit", "payment", "starting_after",
                         "status"},
}  # fmt: skip


def _error(status: int, message: str, kind: str = "invalid_request_error", **extra: Any) -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, **extra}}, status=status)


@dataclass
class FakeStripe:
    keys: set[str] = field(default_factory=lambda: {"sk_test_donorbot"})
    charges: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    disputes: list[dict[str, Any]] = field(default_factory=list)
    invoice_payments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def charge(
        self, number: int, created: int, amount: int, *, currency: str = "usd", email: str | None = None,
        name: str | None = None, customer: str | None = None, metadata: dict[str, str] | None = None,
        payment_intent: bool = True, status: str = "succeeded", description: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        obj = copy.deepcopy(FIXTURES["charge"])
        obj.update(
            id=f"ch_{number:024d}", amount=amount, amount_captured=amount, captured=status == "succeeded",
            created=created, currency=currency, customer=customer, metadata=metadata or {},
            payment_intent=f"pi_{number:024d}" if payment_intent else None, status=status,
            paid=status == "succeeded", description=description, receipt_email=email,
        )  # fmt: skip
        obj["billing_details"] = {**obj["billing_details"], "email": email, "name": name}
        self.charges.append(obj)
        return obj

    def refund(
        self, number: int, charge: dict[str, Any], created: int, amount: int | None = None
    ) -> dict[str, Any]:
        amount = charge["amount"] if amount is None else amount
        obj = copy.deepcopy(FIXTURES["refund"])
        obj.update(id=f"re_{number:024d}", amount=amount, charge=charge["id"], created=created,
                   currency=charge["currency"], payment_intent=charge["payment_intent"], status="succeeded")  # fmt: skip
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self.refunds.append(obj)
        return obj

    def dispute(self, number: int, charge: dict[str, Any], created: int) -> dict[str, Any]:
        obj = copy.deepcopy(FIXTURES["dispute"])
        obj.update(id=f"dp_{number:024d}", amount=charge["amount"], charge=charge["id"], created=created,
                   currency=charge["currency"], payment_intent=charge["payment_intent"])  # fmt: skip
        charge["disputed"] = True
        self.disputes.append(obj)
        return obj

    def invoice_payment(self, number: int, charge: dict[str, Any], invoice: str) -> dict[str, Any]:
        """The InvoicePayment by which ``charge``'s PaymentIntent paid ``invoice`` (current API versions)."""
        obj = copy.deepcopy(FIXTURES["invoice_payment"])
        obj.update(id=f"inpay_{number:020d}", amount_paid=charge["amount"], amount_requested=charge["amount"],
                   created=charge["created"], currency=charge["currency"], invoice=invoice, status="paid",
                   payment={"type": "payment_intent", "payment_intent": charge["payment_intent"]},
                   livemode=False)  # fmt: skip
        self.invoice_payments.append(obj)
        return obj

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        params = dict(request.query)
        self.requests.append((name, params))
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        if key not in self.keys:
            shown = f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else key
            return _error(401, f"Invalid API Key provided: {shown}")
        created: dict[str, int] = {}
        expand: list[str] = []
        for raw, value in params.items():
            match = re.fullmatch(r"([a-z_]+)(?:\[([a-z0-9_]*)\])?", raw)
            base = match.group(1) if match else raw
            if base not in _LIST_PARAMS[name]:
                return _error(400, f"Received unknown parameter: {raw}", param=raw)
            if base == "created":
                op = match.group(2) if match else ""
                if op not in ("gt", "gte", "lt", "lte") or not value.isdigit():
                    return _error(400, f"Invalid created[{op}]: must be an integer", param=raw)
                created[op] = int(value)
            if base == "expand":
                expand.append(value)
        limit_text = params.get("limit", "10")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            return _error(400, "Invalid integer: limit must be between 1 and 100", param="limit")
        if (
            "status" in params
            and name == "invoice_payments"
            and params["status"] not in ("canceled", "open", "paid")
        ):
            return _error(400, f"Invalid status: {params['status']}", param="status")
        rows = {"charges": self.charges, "refunds": self.refunds, "disputes": self.disputes,
                "invoice_payments": self.invoice_payments}[name]  # fmt: skip
        if "status" in params:
            rows = [o for o in rows if o.get("status") == params["status"]]
        rows = sorted(rows, key=lambda o: (o["created"], o["id"]), reverse=True)
        checks = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
                  "lte": lambda a, b: a <= b}  # fmt: skip
        rows = [o for o in rows if all(checks[op](o["created"], v) for op, v in created.items())]
        if "starting_after" in params:
            ids = [o["id"] for o in rows]
            if params["starting_after"] not in ids:
                return _error(400, f"No such object: '{params['starting_after']}'", param="starting_after")
            rows = rows[ids.index(params["starting_after"]) + 1 :]
        limit = int(limit_text)
        page = [copy.deepcopy(o) for o in rows[:limit]]
        if name == "refunds" and "data.charge" in expand:
            by_id = {c["id"]: c for c in self.charges}
            for refund in page:
                refund["charge"] = copy.deepcopy(by_id[refund["charge"]])
        return web.json_response(
            {"object": "list", "data": page, "has_more": len(rows) > limit, "url": f"/v1/{name}"}
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/{name:charges|refunds|disputes|invoice_payments}", self.handle)
        return app
