"""What an importer yields, row by row, for the import pipeline to store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.ledger.models import NewDonation, RefundEvent

__all__ = ["Importer", "Parsed", "RowError", "Skipped"]


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that cannot be read: shown as ``FILE:LINE: column: problem``.

    ``where`` replaces the line number in files that have no lines to speak of (a JSON
    export on one line: ``sponsorship 3, transaction 2``).
    """

    line: int
    column: str
    problem: str
    raw: str = ""  # the row as it was, for the rejected-rows file
    where: str = ""

    def describe(self, file: Path | str) -> str:
        if self.where:
            return f"{file}: {self.where}: {self.column}: {self.problem}"
        return f"{file}:{self.line}: {self.column}: {self.problem}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A valid row that is not a donation (an expense, a fee, a payout)."""

    line: int
    reason: str


@dataclass(slots=True)  # one per imported row: not frozen, which would cost more than parsing it
class Parsed:
    line: int
    item: NewDonation | RefundEvent


class Importer(Protocol):
    """Reads one platform's export. Never raises for a bad row: yields RowError instead.

    ``tz`` is the project's zone, for exports whose dates carry no offset.
    Raises ``ValueError`` only when the file as a whole is unusable (wrong
    format, missing required columns), with a message naming the file.
    """

    name: str

    def rows(self, path: Path, tz: ZoneInfo) -> Iterator[Parsed | Skipped | RowError]: ...
