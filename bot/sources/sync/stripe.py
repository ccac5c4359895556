"""Stripe: succeeded charges, and the refunds and disputes made since, through the official ``stripe`` package.

Each list is read with ``created[gte]`` and ``starting_after`` pagination (Stripe
lists newest first, :data:`PAGE` per page, the API's maximum). The cursor is the
creation time of the newest object read; the next sync starts :data:`OVERLAP`
before it. ``api_base`` points the SDK at another server (tests use a local fake).

A charge is a donation when it succeeded and was captured. Its id is its
PaymentIntent (``pi_…``) when it has one, else the charge's id: the same rule as
the webhook (checkout sessions and invoices are paid by a PaymentIntent), so a
payment received by both routes is stored once. On current API versions a charge no
longer names its invoice: the paid InvoicePayments created since the cursor
(``/v1/invoice_payments``, ``payment.payment_intent`` -> ``invoice``) give each
subscription charge its invoice id as an alias (the id the ``invoice.paid`` webhook
stores when its event lists no payments) and mark it recurring. A charge fully refunded, a full
refund listed since the cursor, or a dispute mark the donation refunded or
disputed; partial refunds change nothing, as in the webhook. Stripe knows no
public donor: a donation is named only when its ``metadata.public`` is ``"true"``
(then ``metadata.display_name``, else the billing name, and ``metadata.message``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.config import StripeSource
from bot.ledger.models import NewDonation, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.money import is_currency
from bot.sources.sync.base import Batch, SyncError, parse_cursor, start_time
from bot.sources.sync.http import TokenRef
from bot.sources.sync.shape import Reader

__all__ = ["OVERLAP", "PAGE", "SOURCE", "StripeSync", "donation_id"]

SOURCE = "stripe"
PAGE = 100
MAX_PAGES = 5000
OVERLAP = timedelta(hours=1)
WHAT = "Stripe"


def donation_id(charge: dict[str, Any]) -> str:
    """The one place a synced charge's ledger id is made: its PaymentIntent, else the charge."""
    return _id_of(charge.get("payment_intent")) or str(charge.get("id") or "")


def _id_of(value: Any) -> str:
    """An expandable field: the id itself or the expanded object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return ""


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


class StripeSync:
    """Reads one Stripe account's charges (``[sources.stripe]``)."""

    key = "stripe"
    source = SOURCE

    def __init__(self, settings: StripeSource, token: TokenRef) -> None:
        self.settings = settings
        self.token = token
        self.interval = timedelta(minutes=settings.interval_minutes)
        self._read = Reader(WHAT)

    def _client(self, http: Any) -> Any:
        import stripe

        return stripe.StripeClient(
            self.token.value,
            base_addresses={"api": self.settings.api_base},
            http_client=http,
            max_network_retries=2,  # the SDK retries 409, 429 and 5xx as Stripe advises
        )

    def _error(self, exc: Exception) -> SyncError:
        import stripe

        where = f"{WHAT} at {self.settings.api_base}"
        if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
            return SyncError(
                f"{self.token.key}: the key in {self.token.env} was refused by {where}"
                f" (HTTP {exc.http_status}); check it is a valid secret or restricted key"
                " that may read charges, refunds, disputes and invoices"
            )
        if isinstance(exc, stripe.RateLimitError):
            return SyncError(f"{where}: rate limited (429); tried again at the next interval")
        text = self.token.redact(str(getattr(exc, "user_message", None) or exc or type(exc).__name__))
        return SyncError(f"{where}: {' '.join(text.split())[:300]}")

    async def _list(
        self, lister: Callable[..., Awaitable[Any]], params: dict[str, Any], batch: Batch
    ) -> list[dict[str, Any]]:
        """Every object of one list endpoint, newest first, page after page."""
        out: list[dict[str, Any]] = []
        after: str | None = None
        for _page in range(MAX_PAGES):
            page_params = {**params, "limit": PAGE}
            if after:
                page_params["starting_after"] = after
            page = await lister(params=page_params)
            batch.requests += 1
            raw = page.to_dict() if hasattr(page, "to_dict") else dict(page)
            data = self._read.list(raw.get("data"), "list.data")
            objects = [self._read.obj(obj, f"list.data[{i}]") for i, obj in enumerate(data)]
            out += objects
            if not raw.get("has_more") or not objects:
                return out
            after = self._read.text(objects[-1], "id", "list.data[-1]")
        raise SyncError(f"{WHAT}: more than {MAX_PAGES} pages in one sync; stopped")

    async def fetch(self, cursor: str | None) -> Batch:
        import stripe

        batch = Batch(cursor=cursor)
        start = parse_cursor(cursor, WHAT) - OVERLAP if cursor else start_time(self.settings.since)
        created = {"created": {"gte": int(start.timestamp())}} if start else {}
        http = stripe.AIOHTTPClient()
        client = self._client(http)
        try:
            charges = await self._list(client.v1.charges.list_async, dict(created), batch)
            refunds = await self._list(
                client.v1.refunds.list_async, {**created, "expand": ["data.charge"]}, batch
            )
            disputes = await self._list(client.v1.disputes.list_async, dict(created), batch)
            invoice_payments = await self._list(
                client.v1.invoice_payments.list_async, {**created, "status": "paid"}, batch
            )
        except stripe.StripeError as exc:
            raise self._error(exc) from None
        finally:
            with contextlib.suppress(Exception):  # closing must not hide the sync's own outcome
                await http.close_async()  # type: ignore[no-untyped-call]
        newest = parse_cursor(cursor, WHAT) if cursor else None
        invoices: dict[str, str] = {}  # PaymentIntent -> the invoice it paid
        for payment in invoice_payments:
            paid_by = payment.get("payment")
            intent = _id_of(paid_by.get("payment_intent")) if isinstance(paid_by, dict) else ""
            invoice = _id_of(payment.get("invoice"))
            if intent and invoice:
                invoices[intent] = invoice
        for index, charge in enumerate(charges):
            when = self._charge(charge, f"charges[{index}]", batch, invoices)
            newest = when if newest is None or when > newest else newest
        for index, refund in enumerate(refunds):
            when = self._refund(refund, f"refunds[{index}]", batch)
            newest = when if newest is None or when > newest else newest
        for index, dispute in enumerate(disputes):
            where = f"disputes[{index}]"
            when = self._read.time(dispute, "created", where)
            original = _id_of(dispute.get("payment_intent")) or _id_of(dispute.get("charge"))
            if original:
                batch.items.append(RefundEvent(SOURCE, original, Status.DISPUTED, when))
            else:
                batch.skip("dispute without a charge")
            newest = when if newest is None or when > newest else newest
        batch.seen = len(charges) + len(refunds) + len(disputes) + len(invoice_payments)
        if newest is not None:
            batch.cursor = newest.isoformat()
        return batch

    def _charge(self, charge: dict[str, Any], where: str, batch: Batch, invoices: dict[str, str]) -> datetime:
        read = self._read
        when = read.time(charge, "created", where)
        if charge.get("status") != "succeeded" or charge.get("paid") is False:
            batch.skip(f"charge {charge.get('status') or 'without status'}")
            return when
        if charge.get("captured") is False:
            batch.skip("charge not captured")
            return when
        currency = read.text(charge, "currency", where).upper()
        if not is_currency(currency):
            raise read.fail(f"{where}.currency", f"{currency[:10]!r} is not an ISO 4217 code")
        amount = read.integer(charge, "amount", where)
        assert amount is not None
        if amount <= 0:
            batch.skip("charge of zero")
            return when
        details = read.object(charge.get("billing_details"), f"{where}.billing_details", optional=True) or {}
        metadata = read.object(charge.get("metadata"), f"{where}.metadata", optional=True) or {}
        public = _truthy(metadata.get("public"))
        name = str(metadata.get("display_name") or details.get("name") or "").strip() if public else ""
        message = str(metadata.get("message") or "").strip() if public else ""
        email = str(details.get("email") or charge.get("receipt_email") or "")
        external_id = donation_id(charge)
        invoice = invoices.get(external_id) or _id_of(charge.get("invoice"))
        description = str(charge.get("description") or "")
        batch.items.append(
            NewDonation(
                source=SOURCE,
                external_id=external_id,
                aliases=(invoice,) if invoice and invoice != external_id else (),
                amount=amount,
                currency=currency,
                received_at=when,
                donor_id=donor_identity(SOURCE, _id_of(charge.get("customer")) or None, email or None),
                public=public and bool(name),
                display_name=name or None,
                message=message or None,
                # Subscriptions' charges: an invoice paid (InvoicePayment, or an older charge's own
                # ``invoice``); failing that, the description Stripe gives them.
                recurring=bool(invoice) or description.startswith("Subscription"),
            )
        )
        if charge.get("refunded") is True:
            batch.items.append(RefundEvent(SOURCE, external_id, Status.REFUNDED, when))
        elif charge.get("disputed") is True:
            batch.items.append(RefundEvent(SOURCE, external_id, Status.DISPUTED, when))
        return when

    def _refund(self, refund: dict[str, Any], where: str, batch: Batch) -> datetime:
        when = self._read.time(refund, "created", where)
        if refund.get("status") != "succeeded":
            batch.skip(f"refund {refund.get('status') or 'without status'}")
            return when
        charge = refund.get("charge")
        if not isinstance(charge, dict):
            batch.skip("refund without its charge")
            return when
        if charge.get("refunded") is not True:
            batch.skip("partial refund")
            return when
        batch.items.append(RefundEvent(SOURCE, donation_id(charge), Status.REFUNDED, when))
        return when
