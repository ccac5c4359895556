"""GitHub Sponsors: the maintainer's sponsorships, from GitHub's GraphQL API (``sponsorsActivities``).

What the API offers, and so what a sync can see:

- ``sponsorsActivities`` lists, with their time, ``NEW_SPONSORSHIP`` (a one-time
  payment, or the first month of a monthly sponsorship), ``TIER_CHANGE``,
  ``PENDING_CHANGE``, ``CANCELLED_SPONSORSHIP``, ``REFUND`` and
  ``SPONSOR_MATCH_DISABLED``, each with the tier's monthly price and the sponsor's
  privacy level at the time;
- there is no list of payments: the later monthly charges of a sponsorship, the
  prorated amount of a tier change and which payment a refund returned are not in
  the API (they are in the dashboard's CSV export).

So a sync stores each new sponsorship's first payment (the tier's price, at the
activity's time), with the sponsorship's node id as the webhook's ``created`` event
does (``sponsorshipForViewerAsSponsorable``), so the two routes store it once. The
other activities move no money that the API shows: they are counted as skipped.
Sponsors are named only when the sponsorship is public; the donor is the GitHub
login (``github:LOGIN``), as in the webhook and the CSV import. The cursor is the
newest activity's time; the next sync asks ``since`` :data:`OVERLAP` before it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.config import GitHubSponsorsSource
from bot.ledger.ids import keyed
from bot.ledger.models import DonorKind, NewDonation
from bot.ledger.pseudonym import donor_identity
from bot.sources.github_sponsors import IDENTITY_PREFIX, SOURCE, reconcile
from bot.sources.sync.base import Batch, SyncError, parse_cursor, start_time
from bot.sources.sync.http import GraphQLClient, TokenRef
from bot.sources.sync.shape import Reader

__all__ = ["OVERLAP", "PAGE", "QUERY", "GitHubSponsorsSync", "donation_id"]

PAGE = 100  # GitHub's maximum for ``first``
MAX_PAGES = 2000
OVERLAP = timedelta(hours=1)
PER_MINUTE = 60  # far under GitHub's 5,000 points an hour
CURRENCY = "USD"
WHAT = "GitHub"
# A sponsorship created within this of its NEW_SPONSORSHIP activity is that activity's.
SAME_SPONSORSHIP = timedelta(minutes=10)

_ACTIVITIES = """
      sponsorsActivities(
        period: ALL
        since: $since
        first: $first
        after: $after
        orderBy: {field: TIMESTAMP, direction: ASC}
        includePrivate: true
      ) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id
          action
          timestamp
          currentPrivacyLevel
          sponsorsTier { monthlyPriceInCents isOneTime }
          sponsor {
            __typename
            ... on User { login name sponsorshipForViewerAsSponsorable(activeOnly: false) { id createdAt } }
            ... on Organization {
              login name sponsorshipForViewerAsSponsorable(activeOnly: false) { id createdAt }
            }
          }
        }
      }
"""

QUERY = (
    "query DonorbotSponsorsActivities($since: DateTime, $first: Int!, $after: String) {\n"
    "  viewer {\n" + _ACTIVITIES + "  }\n}\n"
)
QUERY_OF_LOGIN = (
    "query DonorbotSponsorsActivitiesOf($login: String!, $since: DateTime, $first: Int!, $after: String) {\n"
    "  repositoryOwner(login: $login) {\n    ... on Sponsorable {\n" + _ACTIVITIES + "    }\n  }\n}\n"
)


def donation_id(login: str, sponsorship: dict[str, Any] | None, when: datetime) -> str:
    """The one place a synced sponsorship's ledger id is made (the README's table of ids).

    The sponsorship's node id (the webhook's ``sponsorship.node_id``) when the API gives
    the sponsorship this activity started; else ``keyed("LOGIN:CREATED_AT")``, as the
    webhook does without a node id (the ledger stores only its keyed hash).
    """
    if (
        sponsorship
        and isinstance(sponsorship.get("id"), str)
        and isinstance(sponsorship.get("createdAt"), str)
    ):
        try:
            created = datetime.fromisoformat(str(sponsorship["createdAt"]).replace("Z", "+00:00"))
        except ValueError:
            created = None
        if created is not None and abs(created - when) <= SAME_SPONSORSHIP:
            return str(sponsorship["id"])
    return keyed(f"{login}:{when.isoformat().replace('+00:00', 'Z')}")


class GitHubSponsorsSync:
    """Reads the sponsorships of the token's account, or of ``login`` (``[sources.github_sponsors]``)."""

    key = "github_sponsors"
    source = SOURCE

    def __init__(self, settings: GitHubSponsorsSource, token: TokenRef, **client: Any) -> None:
        self.settings = settings
        self.token = token
        self.interval = timedelta(minutes=settings.interval_minutes)
        self._client_options = client
        self._read = Reader(WHAT)

    def client(self) -> GraphQLClient:
        return GraphQLClient(
            self.settings.api_url,
            WHAT,
            headers={"Authorization": f"bearer {self.token.value}", "User-Agent": "donorbot"},
            token=self.token,
            per_minute=PER_MINUTE,
            **self._client_options,
        )

    async def fetch(self, cursor: str | None) -> Batch:
        batch = Batch(cursor=cursor)
        start = parse_cursor(cursor, WHAT) - OVERLAP if cursor else start_time(self.settings.since)
        newest = parse_cursor(cursor, WHAT) if cursor else None
        login = self.settings.login
        after: str | None = None
        async with self.client() as client:
            for _page in range(MAX_PAGES):
                variables: dict[str, Any] = {
                    "since": start.isoformat().replace("+00:00", "Z") if start else None,
                    "first": PAGE,
                    "after": after,
                }
                if login:
                    variables["login"] = login
                data = await client.query(QUERY_OF_LOGIN if login else QUERY, variables)
                owner_key = "repositoryOwner" if login else "viewer"
                owner = self._read.object(data.get(owner_key), owner_key, optional=True)
                if owner is None:
                    raise SyncError(f"sources.github_sponsors.login: GitHub has no account {login!r}")
                connection = self._read.object(
                    owner.get("sponsorsActivities"), f"{owner_key}.sponsorsActivities", optional=True
                )
                if connection is None:
                    raise SyncError(f"sources.github_sponsors.login: {login!r} cannot be sponsored on GitHub")
                nodes = self._read.list(connection.get("nodes"), "sponsorsActivities.nodes")
                for index, node in enumerate(nodes):
                    where = f"sponsorsActivities.nodes[{batch.seen + index}]"
                    when = self._one(self._read.obj(node, where), where, batch)
                    newest = when if newest is None or when > newest else newest
                batch.seen += len(nodes)
                info = self._read.obj(connection.get("pageInfo"), "sponsorsActivities.pageInfo")
                if not info.get("hasNextPage") or not nodes:
                    break
                after = self._read.text(info, "endCursor", "sponsorsActivities.pageInfo")
            else:
                raise SyncError(f"{WHAT}: more than {MAX_PAGES} pages in one sync; stopped")
            batch.requests = client.requests
        if newest is not None:
            batch.cursor = newest.isoformat()
        return batch

    def _one(self, node: dict[str, Any], where: str, batch: Batch) -> datetime:
        read = self._read
        when = read.time(node, "timestamp", where)
        action = read.text(node, "action", where)
        if action != "NEW_SPONSORSHIP":
            batch.skip(f"{action.lower().replace('_', ' ')} (no payment in the API)")
            return when
        tier = read.object(node.get("sponsorsTier"), f"{where}.sponsorsTier", optional=True)
        if tier is None:
            batch.skip("new sponsorship without a tier")
            return when
        cents = read.integer(tier, "monthlyPriceInCents", f"{where}.sponsorsTier")
        assert cents is not None
        if cents <= 0:
            batch.skip("sponsorship of zero")
            return when
        sponsor = read.object(node.get("sponsor"), f"{where}.sponsor", optional=True) or {}
        login = str(sponsor.get("login") or "")
        public = node.get("currentPrivacyLevel") == "PUBLIC" and bool(login)
        name = str(sponsor.get("name") or "").strip() or login
        sponsorship = sponsor.get("sponsorshipForViewerAsSponsorable")
        batch.items.append(
            NewDonation(
                source=SOURCE,
                external_id=donation_id(login, sponsorship if isinstance(sponsorship, dict) else None, when),
                # The dashboard export numbers the same first charge otherwise: matched on donor, amount, time.
                reconcile=reconcile("api", cents),
                amount=cents,  # USD: cents are its minor units
                currency=CURRENCY,
                received_at=when,
                donor_id=donor_identity(IDENTITY_PREFIX, login or None),
                public=public,
                display_name=name if public else None,
                recurring=tier.get("isOneTime") is not True,
                kind=DonorKind.ORGANISATION
                if sponsor.get("__typename") == "Organization"
                else DonorKind.PERSON,
            )
        )
        return when
