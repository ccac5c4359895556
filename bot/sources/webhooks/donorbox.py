"""Donorbox: an array of one donation, signed with ``Donorbox-Signature: <ts>,<hex>``.

The id is Donorbox's donation ``id``. ``status`` ``paid`` is a donation,
``refunded`` refunds it; other states are ignored. A donor who did not ask to
be anonymous (``anonymous_donation`` false) is named, with their comment.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.ledger.models import NewDonation, RefundEvent
from bot.ledger.pseudonym import donor_identity
from bot.sources.webhooks.common import (
    Ignored,
    Malformed,
    Outcome,
    as_amount,
    as_bool,
    as_currency,
    as_object,
    as_text,
    as_time,
    load_json,
    maybe_object,
)

__all__ = ["SOURCE", "parse"]

SOURCE = "donorbox"


def parse(body: bytes, headers: Mapping[str, str]) -> Outcome:
    payload = load_json(body)
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not payload:
        raise Malformed("body: expected an array of donations")
    items: list[NewDonation | RefundEvent] = []
    reasons: list[str] = []
    for index, entry in enumerate(payload):
        where = f"[{index}]"
        donation = as_object(entry, where)
        external_id = as_text(donation, "id", where)
        status = as_text(donation, "status", where, required=False).lower() or "paid"
        when = as_time(donation.get("donation_date"), f"{where}.donation_date")
        if status == "refunded":
            items.append(RefundEvent(SOURCE, external_id, received_at=when))
            continue
        if status not in ("paid", "succeeded", "completed"):
            reasons.append(f"donation {status}")
            continue
        currency = as_currency(donation.get("currency"), f"{where}.currency")
        amount = as_amount(donation.get("amount"), currency, f"{where}.amount")
        if amount == 0:
            reasons.append("donation of zero")
            continue
        donor = maybe_object(donation.get("donor"))
        public = not as_bool(donation.get("anonymous_donation"), f"{where}.anonymous_donation", default=True)
        name = as_text(donor, "name", f"{where}.donor", required=False)
        comment = as_text(donation, "comment", where, required=False)
        items.append(
            NewDonation(
                source=SOURCE,
                external_id=external_id,
                amount=amount,
                currency=currency,
                received_at=when,
                donor_id=donor_identity(
                    SOURCE,
                    as_text(donor, "id", f"{where}.donor", required=False) or None,
                    as_text(donor, "email", f"{where}.donor", required=False) or None,
                ),
                public=public and bool(name),
                display_name=name if public and name else None,
                message=comment if public and comment else None,
                recurring=as_bool(donation.get("recurring"), f"{where}.recurring"),
            )
        )
    return items if items else Ignored("; ".join(reasons) or "no donation")
