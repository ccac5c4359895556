"""Open Collective: a collective's contributions and their refunds, from GraphQL API v2.

``account(slug:) { transactions(kind: [CONTRIBUTION], dateFrom:, orderBy: {field:
CREATED_AT, direction: ASC}, limit:, offset:) }``, read by offset pages of
:data:`PAGE` (the schema documents a maximum of 1000; the resolver refuses more
than 10,000). The query asks for both sides of the collective's contributions:

- a ``CREDIT`` that is not a refund is money received: a donation;
- a ``DEBIT`` refund (``isRefund``) names the original in ``refundTransaction``: the
  original is marked refunded (disputed when ``refundKind`` is ``DISPUTE``);
- the rest (the collective's own contributions to others, and their refunds) is skipped.

An original already refunded when first read (``isRefunded``) is stored with its refund.
The cursor is the creation time of the newest transaction read; the next sync starts
:data:`OVERLAP` before it, so a transaction committed late near the boundary is not
missed (what is read twice is stored once).

Ids are those of the CSV and webhook routes (see :func:`donation_id`). The donor is the
opposite account; incognito contributors (``isIncognito``, or the ``user-…`` profiles
named "Incognito" real exports show), guests and ``incognito-…`` profiles are counted,
never named. Organisations come from the account type, recurring from the order's
frequency. A personal token goes in the ``Personal-Token`` header.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.config import OpenCollectiveSource
from bot.ledger.models import DonorKind, NewDonation, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.money import is_currency, minor_digits
from bot.sources.opencollective import SOURCE, is_private_slug, reconcile, transaction_ids
from bot.sources.sync.base import Batch, SyncError, parse_cursor, start_time
from bot.sources.sync.http import GraphQLClient, TokenRef
from bot.sources.sync.shape import Reader

__all__ = ["OVERLAP", "PAGE", "QUERY", "OpenCollectiveSync", "donation_ids", "is_incognito"]

PAGE = 1000
MAX_PAGES = 2000  # two million transactions in one sync: far beyond any collective
OVERLAP = timedelta(hours=1)
ANONYMOUS_PER_MINUTE = 10  # the API's limit for anonymous clients (per IP)
TOKEN_PER_MINUTE = 100  # and with a personal token
WHAT = "Open Collective"

QUERY = """
query DonorbotContributions($slug: String!, $dateFrom: DateTime, $limit: Int!, $offset: Int!) {
  account(slug: $slug) {
    slug
    transactions(
      kind: [CONTRIBUTION]
      dateFrom: $dateFrom
      orderBy: {field: CREATED_AT, direction: ASC}
      limit: $limit
      offset: $offset
    ) {
      totalCount
      offset
      limit
      nodes {
        id
        legacyId
        group
        type
        kind
        isRefund
        isRefunded
        refundKind
        createdAt
        amount { valueInCents currency }
        oppositeAccount { slug name type isIncognito }
        order { frequency }
        refundTransaction { id legacyId group }
      }
    }
  }
}
"""


def donation_ids(uuid: str, legacy_id: int | None, group: str | None) -> tuple[str, tuple[str, ...]]:
    """A synced transaction's ledger id and aliases: the same as every other route's.

    The API knows all of a transaction's ids: its uuid (whose first 8 hex digits are the
    older export's ``shortId``), ``legacyId`` (the dashboard export's ``Transaction ID``)
    and ``group``; :func:`bot.sources.opencollective.transaction_ids` turns them into the
    ids the CSV and webhook routes use, so a payment seen by several routes is one donation.
    """
    return transaction_ids(legacy_id=legacy_id, uuid=uuid, group=group)


def is_incognito(account: dict[str, Any]) -> bool:
    """Incognito and guest contributors: counted, never named."""
    slug = str(account.get("slug") or "")
    name = str(account.get("name") or "").strip()
    # Real exports show incognito profiles as ``user-xxxxxxxx`` named "Incognito": the name is the sign.
    return account.get("isIncognito") is True or is_private_slug(slug) or name.lower() == "incognito"


class OpenCollectiveSync:
    """Reads one collective's contributions (``[sources.opencollective]``)."""

    key = "opencollective"
    source = SOURCE

    def __init__(self, settings: OpenCollectiveSource, token: TokenRef | None, **client: Any) -> None:
        self.settings = settings
        self.token = token
        self.interval = timedelta(minutes=settings.interval_minutes)
        self._client_options = client  # sleep/clock, for tests
        self._read = Reader(WHAT)

    def client(self) -> GraphQLClient:
        headers = {"Personal-Token": self.token.value} if self.token else {}
        return GraphQLClient(
            self.settings.api_url,
            WHAT,
            headers=headers,
            token=self.token,
            per_minute=TOKEN_PER_MINUTE if self.token else ANONYMOUS_PER_MINUTE,
            anonymous_hint="a private collective needs a personal token: set sources.opencollective.token_env",
            **self._client_options,
        )

    async def fetch(self, cursor: str | None) -> Batch:
        batch = Batch(cursor=cursor)
        start = parse_cursor(cursor, WHAT) - OVERLAP if cursor else start_time(self.settings.since)
        newest: datetime | None = parse_cursor(cursor, WHAT) if cursor else None
        offset = 0
        async with self.client() as client:
            for _page in range(MAX_PAGES):
                data = await client.query(
                    QUERY,
                    {
                        "slug": self.settings.slug,
                        "dateFrom": start.isoformat().replace("+00:00", "Z") if start else None,
                        "limit": PAGE,
                        "offset": offset,
                    },
                )
                account = self._read.object(data.get("account"), "account", optional=True)
                if account is None:
                    raise SyncError(
                        f"sources.opencollective.slug: {WHAT} has no account {self.settings.slug!r}"
                        f" (at {self.settings.api_url})"
                    )
                page = self._read.obj(account.get("transactions"), "account.transactions")
                nodes = self._read.list(page.get("nodes"), "account.transactions.nodes")
                total = self._read.integer(page, "totalCount", "account.transactions", optional=True)
                for index, node in enumerate(nodes):
                    where = f"account.transactions.nodes[{offset + index}]"
                    when = self._one(self._read.obj(node, where), where, batch)
                    if newest is None or when > newest:
                        newest = when
                batch.seen += len(nodes)
                offset += len(nodes)
                if len(nodes) < PAGE or (total is not None and offset >= total):
                    break
            else:
                raise SyncError(f"{WHAT}: more than {MAX_PAGES} pages in one sync; stopped")
            batch.requests = client.requests
        if newest is not None:
            batch.cursor = newest.isoformat()
        return batch

    def _one(self, node: dict[str, Any], where: str, batch: Batch) -> datetime:
        read = self._read
        when = read.time(node, "createdAt", where)
        kind = read.text(node, "kind", where, optional=True)
        kind_type = read.text(node, "type", where)
        if kind != "CONTRIBUTION":
            batch.skip(f"{kind or 'untyped'} is not a contribution")
            return when
        if read.boolean(node, "isRefund", where):
            if kind_type != "DEBIT":
                batch.skip("refund of the collective's own contribution")
                return when
            original = read.object(node.get("refundTransaction"), f"{where}.refundTransaction", optional=True)
            if original is None:
                batch.skip("refund without its original")
                return when
            uuid = read.text(original, "id", f"{where}.refundTransaction")
            legacy = read.integer(original, "legacyId", f"{where}.refundTransaction", optional=True)
            status = Status.DISPUTED if node.get("refundKind") == "DISPUTE" else Status.REFUNDED
            # The original's short id: a refund may name a donation by any of its ids.
            original_id, _ = donation_ids(uuid, legacy, None)
            batch.items.append(RefundEvent(SOURCE, original_id, status, when))
            return when
        if kind_type != "CREDIT":
            batch.skip("the collective's own contribution to another account")
            return when
        amount_obj = read.obj(node.get("amount"), f"{where}.amount")
        currency = read.text(amount_obj, "currency", f"{where}.amount").upper()
        if not is_currency(currency):
            raise read.fail(f"{where}.amount.currency", f"{currency[:10]!r} is not an ISO 4217 code")
        cents = read.integer(amount_obj, "valueInCents", f"{where}.amount")
        assert cents is not None
        amount = _minor(cents, currency)
        if amount is None:
            raise read.fail(
                f"{where}.amount.valueInCents", f"{cents} hundredths is not a whole amount of {currency}"
            )
        if amount <= 0:
            batch.skip("contribution of zero or less")
            return when
        donor = read.object(node.get("oppositeAccount"), f"{where}.oppositeAccount", optional=True) or {}
        slug = str(donor.get("slug") or "")
        private = is_incognito(donor)
        name = (
            None if private else (str(donor.get("name") or "").strip() or None)
        )  # unnamed: counted, not listed
        order = read.object(node.get("order"), f"{where}.order", optional=True) or {}
        uuid = read.text(node, "id", where)
        legacy = read.integer(node, "legacyId", where, optional=True)
        group = read.text(node, "group", where, optional=True) or None
        external_id, aliases = donation_ids(uuid, legacy, group)
        batch.items.append(
            NewDonation(
                source=SOURCE,
                external_id=external_id,
                aliases=aliases,
                reconcile=reconcile("api"),  # it may meet a legacy export's row, which has no id
                amount=amount,
                currency=currency,
                received_at=when,
                donor_id=donor_identity(SOURCE, slug or None),
                public=name is not None,
                display_name=name,
                recurring=order.get("frequency") in ("MONTHLY", "YEARLY"),
                kind=DonorKind.ORGANISATION if donor.get("type") == "ORGANIZATION" else DonorKind.PERSON,
            )
        )
        if read.boolean(node, "isRefunded", where):
            # Refunded before this sync first saw it; its refund may be outside the window read.
            batch.items.append(RefundEvent(SOURCE, external_id, Status.REFUNDED, when))
        return when


def _minor(cents: int, currency: str) -> int | None:
    """Open Collective counts every currency in hundredths; None when it does not fit the currency."""
    digits = minor_digits(currency)
    if digits >= 2:
        return cents * int(10 ** (digits - 2))
    divisor = int(10 ** (2 - digits))
    return cents // divisor if cents % divisor == 0 else None
