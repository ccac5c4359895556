"""Liberapay patrons export (``/{user}/patrons/export.csv?scope=all``).

Liberapay writes three patron lists; only the full one (``?scope=all``) has payments
(``last_payment_date``, ``sum_received``). The default ``export.csv`` (active patrons)
and the public list (``public.csv``: ``pledge_date, patron_id, …, weekly_amount``, with
``weekly_amount`` = ``private`` for patrons who hide their giving) are refused with a
hint naming the full export. Columns as Liberapay's ``www/%username/patrons/export.spt``
writes them.

Liberapay exports patrons, not payments, and has no per-payment id. Each row
with a ``last_payment_date`` becomes one donation:

- id: ``{patron_id}:{last_payment_date}`` (the date as ``YYYY-MM-DD``), stored only as
  a keyed hash (:func:`bot.ledger.ids.keyed`): it embeds the patron's Liberapay id.
  Importing the same export again, or a later one before the patron pays again, finds
  the same id and stores nothing new; the patron's next payment moves the date and
  so makes a new donation. For a *secret* patron whose ``patron_id`` is blank the
  id is ``secret:{pledge_date}:{first_payment_date}:{last_payment_date}:{n}``, n
  counting identical rows in the file, and the donor is anonymous.
- received: ``last_payment_date`` at noon UTC (Liberapay writes dates of its UTC
  clock; noon keeps the day whatever the project's zone).
- amount: when the patron has paid once (first and last payment dates equal),
  ``sum_received`` exactly. Otherwise the export does not say what the last
  payment was; it is estimated as ``sum_received`` minus ``weekly_amount`` for each
  whole week between the first and last payments (what the earlier payments
  covered), and never less than one week's amount.
- recurring: always (Liberapay donations are pledges).

Names are kept only for ``visibility = public``; ``private`` patrons are counted
as themselves but never named; ``secret`` ones carry no identity at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.ids import keyed
from bot.ledger.models import NewDonation, RefundEvent
from bot.ledger.pseudonym import donor_identity
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.csvutil import (
    Column,
    Record,
    RowProblem,
    normalise_header,
    open_csv,
    parse_currency,
    parse_datetime,
    parse_money,
)

__all__ = ["SOURCE", "LiberapayImporter"]

SOURCE = "liberapay"

_COLUMNS = (
    Column("patron_id", ("patron_id",)),
    Column("username", ("patron_username",), required=False),
    Column("public_name", ("patron_public_name",), required=False),
    Column("visibility", ("visibility",)),
    Column("currency", ("donation_currency", "currency")),
    Column("weekly", ("weekly_amount",)),
    Column("pledge_date", ("pledge_date",), required=False),
    Column("first_payment", ("first_payment_date",)),
    Column("last_payment", ("last_payment_date",)),
    Column("sum_received", ("sum_received",)),
)

_VISIBILITIES = ("public", "private", "secret")
_FULL = "https://liberapay.com/USERNAME/patrons/export.csv?scope=all"


def _refuse_partial_lists(path: Path) -> None:
    """The public list and the active-patrons export have no payments: say which file to use."""
    header = {normalise_header(h) for h in open_csv(path, (), what="a Liberapay patrons export").header}
    if "lastpaymentdate" in header or "patronid" not in header:
        return
    which = (
        "the list of active patrons (export.csv without scope=all)"
        if "visibility" in header
        else "Liberapay's public patrons list"
    )
    raise ValueError(
        f"{path}: this is {which}: it has no payments (no last_payment_date, sum_received); "
        f"import the full export instead: {_FULL}"
    )


class LiberapayImporter:
    """Reads a Liberapay patrons CSV; see the module docstring for how payments are derived."""

    name = SOURCE

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        _refuse_partial_lists(path)
        csv_file = open_csv(path, _COLUMNS, what="a Liberapay patrons export (?scope=all)")
        secret_seen: dict[str, int] = {}

        def handle(record: Record) -> Sequence[NewDonation | RefundEvent] | str:
            visibility = record.require("visibility").lower()
            if visibility not in _VISIBILITIES:
                raise RowProblem(
                    record.label("visibility"), f"{visibility!r} is not public, private or secret"
                )
            last_text = record.get("last_payment")
            if not last_text:
                return "pledged but has not paid yet"
            last = parse_datetime(last_text, record.label("last_payment"), UTC)
            first_text = record.get("first_payment")
            first = parse_datetime(first_text, record.label("first_payment"), UTC) if first_text else last
            if first > last:
                raise RowProblem(record.label("first_payment"), "is after last_payment_date")
            currency = parse_currency(record.require("currency"), record.label("currency"))
            weekly_text = record.get("weekly")
            weekly = parse_money(weekly_text, currency, record.label("weekly")) if weekly_text else 0
            total = parse_money(record.require("sum_received"), currency, record.label("sum_received"))
            if first.date() == last.date():
                amount = total
            else:
                weeks = (last.date() - first.date()).days // 7
                amount = max(total - weekly * weeks, weekly)
            if amount <= 0:
                return "nothing received"
            patron_id = record.get("patron_id")
            day = last.date().isoformat()
            if patron_id:
                external_id = keyed(f"{patron_id}:{day}")
            else:
                key = f"{record.get('pledge_date')}:{first_text}:{day}"
                secret_seen[key] = secret_seen.get(key, 0) + 1
                external_id = f"secret:{key}:{secret_seen[key]}"
            public = visibility == "public"
            name = record.get("public_name") or record.get("username")
            donor = None if visibility == "secret" else donor_identity(SOURCE, patron_id or None)
            return [
                NewDonation(
                    source=SOURCE,
                    external_id=external_id,
                    amount=amount,
                    currency=currency,
                    received_at=last,
                    donor_id=donor,
                    public=public and bool(name),
                    display_name=name if public and name else None,
                    recurring=True,
                )
            ]

        yield from csv_file.each(handle)
