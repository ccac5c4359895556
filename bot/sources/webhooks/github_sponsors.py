"""GitHub Sponsors: the ``sponsorship`` event, signed with ``X-Hub-Signature-256``.

Only ``created`` is money: GitHub sends no event for later monthly charges (the
dashboard export has them) and ``cancelled``/``edited``/``tier_changed``/
``pending_*`` move none. ``X-GitHub-Delivery`` changes with each redelivery, so
the id is the sponsorship's ``node_id`` (one ``created`` per sponsorship; the API's
``Sponsorship.id`` is the same); without one, ``LOGIN:CREATED_AT``, stored only as a
keyed hash (it names the sponsor). The dashboard export's first charge of the
sponsorship shares no id with it: both are reconciled on donor, the tier's price and
two days either side (see :mod:`bot.sources.github_sponsors`).
Sponsors are named only when ``privacy_level`` is ``public``; the donor is the
GitHub login, as in the CSV import.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.ledger.ids import keyed
from bot.ledger.models import DonorKind, NewDonation
from bot.ledger.pseudonym import donor_identity
from bot.sources.github_sponsors import IDENTITY_PREFIX, SOURCE, reconcile
from bot.sources.webhooks.common import (
    Ignored,
    Outcome,
    as_bool,
    as_object,
    as_text,
    as_time,
    cents_to_minor,
    load_json,
)

__all__ = ["SOURCE", "parse"]

CURRENCY = "USD"


def parse(body: bytes, headers: Mapping[str, str]) -> Outcome:
    event = headers.get("X-GitHub-Event", "")
    payload = as_object(load_json(body), "body")
    if event != "sponsorship":
        return Ignored(f"GitHub {event or 'untyped'} event is not a sponsorship")
    action = as_text(payload, "action", "body")
    if action != "created":
        return Ignored(f"sponsorship {action} moves no money")
    sponsorship = as_object(payload.get("sponsorship"), "sponsorship")
    sponsor = as_object(sponsorship.get("sponsor"), "sponsorship.sponsor")
    tier = as_object(sponsorship.get("tier"), "sponsorship.tier")
    amount = cents_to_minor(
        tier.get("monthly_price_in_cents"), CURRENCY, "sponsorship.tier.monthly_price_in_cents"
    )
    if amount == 0:
        return Ignored("sponsorship of zero")
    public = as_text(sponsorship, "privacy_level", "sponsorship", required=False).lower() == "public"
    login = as_text(sponsor, "login", "sponsorship.sponsor")
    name = as_text(sponsor, "name", "sponsorship.sponsor", required=False) or login
    external_id = as_text(sponsorship, "node_id", "sponsorship", required=False)
    if not external_id:
        external_id = keyed(f"{login}:{as_text(sponsorship, 'created_at', 'sponsorship')}")
    return [
        NewDonation(
            source=SOURCE,
            external_id=external_id,
            amount=amount,
            currency=CURRENCY,
            received_at=as_time(sponsorship.get("created_at"), "sponsorship.created_at"),
            donor_id=donor_identity(IDENTITY_PREFIX, login),
            public=public,
            display_name=name if public else None,
            recurring=not as_bool(tier.get("is_one_time"), "sponsorship.tier.is_one_time"),
            kind=DonorKind.ORGANISATION
            if as_text(sponsor, "type", "sponsorship.sponsor", required=False) == "Organization"
            else DonorKind.PERSON,
            reconcile=reconcile("webhook", amount),
        )
    ]
