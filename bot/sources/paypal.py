"""PayPal's CSV downloads: the activity download and the statement, in English, Spanish, German, French.

PayPal writes the header in the account's language and has two reports (see
``tests/fixtures/README.md`` for the real files behind this):

- the *activity download* (Activity > Download, "Balance affecting"): ``Date, Time,
  TimeZone, Name, Type, Status, Currency, Gross, …, Transaction ID, …, Reference Txn
  ID, …, Balance Impact`` (``Balance Impact`` only in newer downloads);
- the *statement* (Statements > Monthly/Custom > CSV): ``Date, Time, Time Zone,
  Description, Currency, Gross, Fee, Net, Balance, Transaction ID, From Email
  Address, Name, …, Reference Txn ID``: no ``Status`` (every row is completed), the
  transaction's type is in ``Description``.

The variant (report and language) is picked from the header; a header that is none
of them is refused naming the closest and the columns it lacks. Columns are found by
name, in any order.

Donations are ``Donation Received`` / ``Donation Payment`` and ``Subscription Payment
Received`` / ``Subscription Payment`` rows (German ``Spendenzahlung``,
``Abonnementzahlung``; French ``Paiement de don``, ``Paiement d'abonnement``) with money
coming in and a completed status. Spanish names are not known from any real file: such
rows are skipped with their type named in the summary. Money *sent*
(a negative ``Gross``, or ``Balance Impact = Debit``) is skipped as not a donation,
whether or not the export has ``Balance Impact``; ``Memo`` rows moved no money. A
``Refund``, ``Chargeback`` or ``Payment Reversal`` row (``Reembolso``,
``Rückzahlung``, ``Remboursement``) with money going out refunds the transaction named
in ``Reference Txn ID``; one with money coming in is a refund *we* received, not a
donor's. Everything else (sales, transfers, conversions, fees, holds) is skipped,
each with its reason in the summary.

Dates follow the account's locale: ``MM/DD/YYYY`` (US), ``DD/MM/YYYY``,
``DD.MM.YYYY`` or ``YYYY-MM-DD``. Whether slashes put the day or the month first
is decided once per file from the dates themselves (a first number above 12
means day first); when every date is ambiguous, a Spanish, German or French header,
decimal commas or ``;`` separators mean day first, anything else month first. The
time is read in the row's ``TimeZone`` (``PDT``, ``CET``, ``GMT+01:00``,
``Europe/Paris``), or the project's zone when the column is absent or empty.

PayPal says nothing about whether a donor is public, so PayPal donors are never
named. The donor is the sender's email (kept only as its pseudonym).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime, time, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.models import NewDonation, RefundEvent, Status
from bot.ledger.pseudonym import donor_identity
from bot.sources.base import Parsed, RowError, Skipped
from bot.sources.csvutil import (
    Column,
    CsvFile,
    Record,
    RowProblem,
    Variant,
    open_variant,
    parse_currency,
    parse_date,
    parse_money,
    parse_time,
    parse_zone,
)

__all__ = ["SOURCE", "VARIANTS", "PayPalImporter"]

SOURCE = "paypal"


def _column(key: str, *names: str, required: bool = True) -> Column:
    return Column(key, names, required)


# One report in one language: its header names, by what the importer reads.
_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "English": {
        "date": ("Date",), "time": ("Time",), "zone": ("TimeZone", "Time Zone", "Time zone", "TZ"),
        "status": ("Status",), "currency": ("Currency",), "gross": ("Gross",),
        "email": ("From Email Address", "From Email", "Sender Email"),
        "transaction_id": ("Transaction ID",), "reference": ("Reference Txn ID", "Reference Transaction ID"),
        "impact": ("Balance Impact",), "type": ("Type",), "description": ("Description",),
    },
    "Spanish": {
        "date": ("Fecha",), "time": ("Hora",), "zone": ("Zona horaria",), "status": ("Estado",),
        "currency": ("Divisa",), "gross": ("Bruto",),
        "email": ("Correo electrónico del remitente", "Remitente"),
        "transaction_id": ("Id. de transacción",),
        "reference": ("Id. de referencia de trans.", "Id. de referencia de transacción"),
        "impact": ("Impacto en el saldo",), "type": ("Tipo",), "description": ("Descripción",),
    },
    "German": {
        "date": ("Datum",), "time": ("Uhrzeit",), "zone": ("Zeitzone",), "status": ("Status",),
        "currency": ("Währung",), "gross": ("Brutto",), "email": ("Absender E-Mail-Adresse",),
        "transaction_id": ("Transaktionscode",), "reference": ("Zugehöriger Transaktionscode",),
        "impact": ("Auswirkung auf Guthaben",), "type": ("Typ",), "description": ("Beschreibung",),
    },
    "French": {
        "date": ("Date",), "time": ("Heure",), "zone": ("Fuseau horaire",), "status": ("État", "Etat"),
        "currency": ("Devise",), "gross": ("Avant commission", "Brut"),
        "email": ("De l'adresse email", "Adresse email de l'expéditeur"),
        "transaction_id": ("Numéro de transaction",),
        "reference": ("Numéro de la transaction de référence",),
        "impact": ("Balance Impact", "Impact sur le solde"), "type": ("Type",),
        "description": ("Description",),
    },
}  # fmt: skip


def _variant(language: str, report: str) -> Variant:
    names = _NAMES[language]
    # The activity download types its rows in Type and has a Status; the statement in Description.
    kind = "type" if report == "activity" else "description"
    columns = [
        _column("date", *names["date"]),
        _column("time", *names["time"], required=False),
        _column("zone", *names["zone"], required=False),
        _column("type", *names[kind]),
        _column("currency", *names["currency"]),
        _column("gross", *names["gross"]),
        _column("email", *names["email"], required=False),
        _column("transaction_id", *names["transaction_id"]),
        _column("reference", *names["reference"], required=False),
        _column("impact", *names["impact"], required=False),
    ]
    if report == "activity":
        columns.insert(4, _column("status", *names["status"]))
    title = "activity download" if report == "activity" else "statement"
    return Variant(f"the PayPal {title} ({language})", tuple(columns))


VARIANTS = tuple(_variant(language, report) for language in _NAMES for report in ("activity", "statement"))

_DONATIONS = {
    "donation received": False,
    "donation payment": False,
    "spendenzahlung": False,
    "paiement de don": False,
    "subscription payment received": True,
    "subscription payment": True,
    "recurring payment received": True,
    "abonnementzahlung": True,
    "paiement d'abonnement": True,
    "paiement d’abonnement": True,
}
_REFUNDS = {
    "refund": Status.REFUNDED,
    "payment refund": Status.REFUNDED,
    "reembolso": Status.REFUNDED,
    "rückzahlung": Status.REFUNDED,
    "remboursement": Status.REFUNDED,
    "chargeback": Status.DISPUTED,
    "chargeback settlement": Status.DISPUTED,
    "payment reversal": Status.DISPUTED,
}
_COMPLETED = frozenset({"completed", "completado", "abgeschlossen", "terminé", "termine"})
_SLASHED = re.compile(r"^\s*(\d{1,2})[/-](\d{1,2})[/-]\d{2,4}\s*$")


def _day_first(csv_file: CsvFile) -> bool:
    """Whether ``a/b/yyyy`` dates in this file are day first (see the module docstring)."""
    day_first = month_first = False
    decimal_comma = False
    for record in csv_file.records():
        match = _SLASHED.match(record.get("date"))
        if match:
            day_first |= int(match.group(1)) > 12
            month_first |= int(match.group(2)) > 12
        decimal_comma |= bool(re.search(r"\d,\d{2}$", record.get("gross")))
    if day_first and month_first:
        raise ValueError(
            f"{csv_file.path}: the Date column mixes day-first and month-first dates; "
            "export again with one locale"
        )
    if day_first or month_first:
        return day_first
    return decimal_comma or csv_file.delimiter == ";" or "English" not in csv_file.variant


def _sign(record: Record) -> int:
    """-1, 0 or 1: which way the row's money went (0 when Gross cannot be read)."""
    text = record.get("gross").replace("\u2212", "-")
    if text.startswith("-") or (text.startswith("(") and text.endswith(")")):
        return -1
    return 1 if any(c.isdigit() and c != "0" for c in text) else 0


class PayPalImporter:
    """Reads a PayPal activity download or statement."""

    name = SOURCE

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]:
        csv_file = open_variant(path, VARIANTS, what="a PayPal activity download or statement")
        has_status = csv_file.has("status")
        day_first = _day_first(csv_file)

        def when(record: Record) -> datetime:
            day = parse_date(record.require("date"), record.label("date"), day_first=day_first)
            time_text = record.get("time")
            at = parse_time(time_text, record.label("time")) if time_text else time()
            zone_text = record.get("zone")
            zone: tzinfo = parse_zone(zone_text, record.label("zone")) if zone_text else tz
            return datetime.combine(day, at, zone)

        def handle(record: Record) -> Sequence[NewDonation | RefundEvent] | str:
            shown = record.require("type")
            kind = " ".join(shown.lower().split())
            status = record.get("status")
            if has_status and status.lower() not in _COMPLETED:
                if kind in _REFUNDS or kind in _DONATIONS:
                    return f"{shown} with status {status or 'empty'}"
                return f"{shown} is not a donation"
            impact = record.get("impact").lower()
            if impact == "memo":
                return f"{shown}: a memo, no money moved"
            if kind in _REFUNDS:
                original = record.get("reference")
                if not original:
                    raise RowProblem(record.label("reference"), "a refund must name its original")
                if impact == "credit" or _sign(record) > 0:
                    return f"{shown} received, not a donor's refund"
                return [RefundEvent(SOURCE, original, _REFUNDS[kind], when(record))]
            if kind not in _DONATIONS:
                return f"{shown} is not a donation"
            currency = parse_currency(record.require("currency"), record.label("currency"))
            amount = parse_money(
                record.require("gross"), currency, record.label("gross"), allow_negative=True
            )
            if impact == "debit" or amount < 0:
                # Money the account sent (a subscription it pays, a donation it made).
                return f"{shown} sent, not received"
            if amount == 0:
                raise RowProblem(record.label("gross"), "a donation received must be more than zero")
            return [
                NewDonation(
                    source=SOURCE,
                    external_id=record.require("transaction_id"),
                    amount=amount,
                    currency=currency,
                    received_at=when(record),
                    donor_id=donor_identity(SOURCE, None, record.get("email") or None),
                    recurring=_DONATIONS[kind],
                )
            ]

        yield from csv_file.each(handle)
