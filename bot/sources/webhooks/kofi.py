"""Ko-fi: a form POST whose ``data`` field holds JSON, authenticated by its verification token.

Ko-fi retries with the same ``message_id`` until it gets a 200; the donation's id
is ``kofi_transaction_id`` (one per payment), else ``message_id``, so a retry is
stored once. ``Donation`` and ``Subscription`` are donations; ``Commission`` and
``Shop Order`` are sales and ignored. Names and messages only when ``is_public``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from bot.ledger.models import NewDonation
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
)

__all__ = ["SOURCE", "decode", "parse"]

SOURCE = "kofi"
_DONATION_TYPES = ("donation", "subscription")


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object in the ``data`` form field."""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Malformed("body is not a UTF-8 form") from None
    values = form.get("data")
    if not values:
        raise Malformed("form field data missing")
    return as_object(load_json(values[0].encode()), "data")


def parse(body: bytes, headers: Mapping[str, str]) -> Outcome:
    payload = decode(body)
    kind = as_text(payload, "type", "data").lower()
    if kind not in _DONATION_TYPES:
        return Ignored(f"Ko-fi {kind or 'untyped'} event is not a donation")
    external_id = as_text(payload, "kofi_transaction_id", "data", required=False) or as_text(
        payload, "message_id", "data"
    )
    currency = as_currency(payload.get("currency"), "data.currency")
    amount = as_amount(payload.get("amount"), currency, "data.amount")
    if amount == 0:
        return Ignored("Ko-fi payment of zero")
    public = as_bool(payload.get("is_public"), "data.is_public")
    name = as_text(payload, "from_name", "data", required=False)
    message = as_text(payload, "message", "data", required=False)
    return [
        NewDonation(
            source=SOURCE,
            external_id=external_id,
            amount=amount,
            currency=currency,
            received_at=as_time(payload.get("timestamp"), "data.timestamp"),
            donor_id=donor_identity(SOURCE, None, as_text(payload, "email", "data", required=False) or None),
            public=public and bool(name),
            display_name=name if public and name else None,
            message=message if public and message else None,
            recurring=kind == "subscription" or as_bool(payload.get("is_subscription_payment"), "data"),
        )
    ]
