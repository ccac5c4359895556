"""Patreon: JSON:API ``member`` resources, signed with HMAC-MD5 in ``X-Patreon-Signature``.

Patreon has no per-charge id and no charge event: every ``members:*`` trigger
carries the member's last charge. A member whose ``last_charge_status`` is
``Paid`` is a donation with the id ``{member id}:{last_charge_date}`` (stored only as
a keyed hash: it embeds the member's id), so the several events one charge causes
store it once and the next month's charge is a new donation. ``Refunded`` and ``Fraud`` refund that same charge. Patreon does
not say whether a patron is public: patrons are never named. Amounts are
``currently_entitled_amount_cents`` in the configured currency.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.ledger.ids import keyed
from bot.ledger.models import NewDonation, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.sources.webhooks.common import (
    Ignored,
    Outcome,
    as_object,
    as_text,
    as_time,
    cents_to_minor,
    load_json,
)

__all__ = ["SOURCE", "parse"]

SOURCE = "patreon"
_REFUNDS = {"refunded": Status.REFUNDED, "fraud": Status.DISPUTED}


def parse(body: bytes, headers: Mapping[str, str], currency: str = "USD") -> Outcome:
    trigger = headers.get("X-Patreon-Event", "")
    document = as_object(load_json(body), "body")
    if not trigger.startswith("members:"):
        return Ignored(f"Patreon {trigger or 'untyped'} trigger is not about a member")
    if trigger.endswith(":delete"):
        return Ignored(f"{trigger} moves no money")
    data = as_object(document.get("data"), "data")
    if as_text(data, "type", "data") != "member":
        return Ignored("resource is not a member")
    member_id = as_text(data, "id", "data")
    attributes = as_object(data.get("attributes"), "data.attributes")
    status = as_text(attributes, "last_charge_status", "data.attributes", required=False).lower()
    charged = as_text(attributes, "last_charge_date", "data.attributes", required=False)
    if not charged or (status != "paid" and status not in _REFUNDS):
        return Ignored(f"last charge {status or 'absent'}")
    external_id = keyed(f"{member_id}:{charged}")
    when = as_time(charged, "data.attributes.last_charge_date")
    if status in _REFUNDS:
        return [RefundEvent(SOURCE, external_id, _REFUNDS[status], when)]
    amount = cents_to_minor(
        attributes.get("currently_entitled_amount_cents"),
        currency,
        "data.attributes.currently_entitled_amount_cents",
    )
    if amount == 0:
        return Ignored("member pays nothing")
    user_id = ""
    relationships = data.get("relationships")
    if isinstance(relationships, dict):
        user = relationships.get("user")
        if isinstance(user, dict) and isinstance(user.get("data"), dict):
            user_id = as_text(user["data"], "id", "relationships.user.data", required=False)
    email = as_text(attributes, "email", "data.attributes", required=False)
    return [
        NewDonation(
            source=SOURCE,
            external_id=external_id,
            amount=amount,
            currency=currency,
            received_at=when,
            donor_id=donor_identity(SOURCE, user_id or member_id, email or None),
            recurring=True,
        )
    ]
