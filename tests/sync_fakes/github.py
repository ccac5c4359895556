"""A fake of GitHub's GraphQL API for sponsors, executing GitHub's published schema with graphql-core.

Queries are validated against ``github_schema.graphql`` (octokit/graphql-schema) and
executed; ``viewer`` and ``repositoryOwner(login:)`` are Sponsorable accounts whose
``sponsorsActivities`` behave as documented in the schema: ``since``/``until`` filter on
the activity's time, ``actions`` on its action, ``includePrivate`` (default: include),
``orderBy`` on ``TIMESTAMP``, cursor pagination with ``first`` at most 100 (GitHub's limit:
more is an error). An unknown token is 401 ``Bad credentials``, as GitHub answers.
"""

from __future__ import annotations

import base64
import csv
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from graphql import graphql, parse, validate
from graphql.error import GraphQLError

from tests.sync_fakes import schema as schemas


@dataclass
class Sponsor:
    login: str
    name: str
    organisation: bool = False
    sponsorship_id: str | None = None  # the Sponsorship node id (the webhook's sponsorship.node_id)
    sponsorship_created: datetime | None = None


@dataclass
class Activity:
    id: str
    action: str
    timestamp: datetime
    sponsor: Sponsor
    cents: int
    one_time: bool = False
    private: bool = False

    def node(self) -> dict[str, Any]:
        sponsor = self.sponsor

        def sponsorship(info: Any, **args: Any) -> dict[str, Any] | None:
            if sponsor.sponsorship_id is None or sponsor.sponsorship_created is None:
                return None
            return {"id": sponsor.sponsorship_id, "createdAt": _iso(sponsor.sponsorship_created)}

        return {
            "id": self.id,
            "action": self.action,
            "timestamp": _iso(self.timestamp),
            "currentPrivacyLevel": "PRIVATE" if self.private else "PUBLIC",
            "sponsorsTier": {
                "monthlyPriceInCents": self.cents,
                "isOneTime": self.one_time,
                "id": f"T_{self.cents}",
            },
            "sponsor": {
                "__typename": "Organization" if sponsor.organisation else "User",
                "login": sponsor.login,
                "name": sponsor.name,
                "sponsorshipForViewerAsSponsorable": sponsorship,
            },
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:{index}".encode()).decode()


@dataclass
class FakeGitHub:
    tokens: set[str] = field(default_factory=lambda: {"ghp_donorbot"})
    login: str = "maintainer"
    activities: list[Activity] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    rate_limited: int = 0  # answer this many next requests as GitHub does when the hour's points are spent
    reset_in: int = 30  # seconds until X-RateLimit-Reset

    def _activities(self, info: Any, **args: Any) -> dict[str, Any]:
        first = args.get("first")
        if first is not None and first > 100:
            raise GraphQLError(
                f"Requesting {first} records on the `sponsorsActivities` connection exceeds the `first` limit of 100 records."
            )
        rows = list(self.activities)
        if args.get("since"):
            since = datetime.fromisoformat(str(args["since"]).replace("Z", "+00:00"))
            rows = [a for a in rows if a.timestamp >= since]
        if args.get("until"):
            until = datetime.fromisoformat(str(args["until"]).replace("Z", "+00:00"))
            rows = [a for a in rows if a.timestamp < until]
        if args.get("actions"):
            rows = [a for a in rows if a.action in args["actions"]]
        if args.get("includePrivate") is False:
            rows = [a for a in rows if not a.private]
        order = args.get("orderBy") or {"field": "TIMESTAMP", "direction": "DESC"}
        rows.sort(key=lambda a: (a.timestamp, a.id), reverse=order.get("direction") == "DESC")
        start = 0
        if args.get("after"):
            start = int(base64.b64decode(args["after"]).decode().split(":")[1]) + 1
        size = first if first is not None else len(rows)
        page = rows[start : start + size]
        end = start + len(page) - 1
        return {
            "totalCount": len(rows),
            "nodes": [a.node() for a in page],
            "edges": None,
            "pageInfo": {
                "hasNextPage": start + len(page) < len(rows),
                "hasPreviousPage": start > 0,
                "endCursor": _cursor(end) if page else None,
                "startCursor": _cursor(start) if page else None,
            },
        }

    def _owner(self, typename: str, login: str) -> dict[str, Any]:
        return {"__typename": typename, "login": login, "sponsorsActivities": self._activities}

    async def handle(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").partition(" ")[2]
        if token not in self.tokens:
            return web.json_response(
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/graphql"},
                status=401,
            )
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return web.json_response(
                {"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest"},
                status=403,
                headers={"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Used": "5000",
                         "X-RateLimit-Reset": str(int(time.time()) + self.reset_in)},
            )  # fmt: skip
        payload = json.loads(await request.text())
        self.queries.append(payload)
        schema = schemas.load(schemas.GITHUB)
        try:
            document = parse(payload["query"])
        except GraphQLError as exc:
            self.invalid.append(exc.message)
            return web.json_response({"errors": [{"message": exc.message}]})
        errors = validate(schema, document)
        if errors:
            self.invalid += [e.message for e in errors]
            return web.json_response({"errors": [{"message": e.message} for e in errors]})

        def repository_owner(info: Any, login: str) -> dict[str, Any] | None:
            return self._owner("Organization", login) if login == "an-org" else None

        result = await graphql(
            schema,
            payload["query"],
            root_value={"viewer": self._owner("User", self.login), "repositoryOwner": repository_owner},
            variable_values=payload.get("variables") or {},
        )
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [{"message": e.message} for e in result.errors]
        return web.json_response(answer)

    def write_export_csv(self, path: Path, renewals_until: datetime) -> list[tuple[str, datetime, int]]:
        """The dashboard's CSV of the same sponsorships' charges: each new sponsorship's first charge
        (at its time, the tier's price) and the monthly renewals the API does not list, every 30 days
        until ``renewals_until`` unless cancelled. Returns (login, date, cents) of every charge."""
        cancelled = {
            a.sponsor.login: a.timestamp for a in self.activities if a.action == "CANCELLED_SPONSORSHIP"
        }
        header = ["Sponsor Handle", "Sponsor Profile Name", "Sponsor Public Email", "Sponsorship Started On",
                  "Is Public?", "Is Yearly?", "Transaction ID", "Tier Name", "Tier Monthly Amount",
                  "Processed Amount", "Is Prorated?", "Status", "Transaction Date", "Metadata", "Country",
                  "Region", "VAT"]  # fmt: skip
        charges: list[tuple[str, datetime, int]] = []
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            number = 0
            for a in sorted(self.activities, key=lambda a: a.timestamp):
                if a.action != "NEW_SPONSORSHIP":
                    continue
                when = a.timestamp
                while when < renewals_until and when < cancelled.get(a.sponsor.login, renewals_until):
                    number += 1
                    dollars = f"${a.cents / 100:,.2f}"
                    tier = f"{dollars} one time" if a.one_time else f"{dollars} a month"
                    writer.writerow([
                        a.sponsor.login, a.sponsor.name, "", a.timestamp.strftime("%Y-%m-%d"),
                        "false" if a.private else "true", "false", f"ch_{number:010d}", tier, dollars, dollars,
                        "false", "settled", when.strftime("%Y-%m-%d %H:%M:%S UTC"), "", "US", "", "",
                    ])  # fmt: skip
                    charges.append((a.sponsor.login, when, a.cents))
                    if a.one_time:
                        break
                    when += timedelta(days=30)
        return charges

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/graphql", self.handle)
        return app
