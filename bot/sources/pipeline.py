"""One file in, one transaction: every platform's importer feeds this pipeline.

Rows are parsed in chunks off the event loop and written as they come, inside a
single ledger transaction: a bad row rolls everything back (nothing imported)
unless ``skip_invalid``, which imports the rest and writes the rejected rows to
``FILE.rejected.csv`` next to the input: the file's own header and rows (same
separator, same quoting), each with three more columns saying why
(``rejected_line``, ``rejected_column``, ``rejected_problem``) that every importer
ignores, so the file can be fixed and imported again as it is (a JSON export's go to
``FILE.rejected.json``, each entry with a ``rejected`` key). It is readable by
its owner only (it holds what the export holds, emails included), and a cell a
spreadsheet would run as a formula is written with a leading ``'`` (read back
without it). ``dry_run`` does all the work and rolls back at the end, so its
summary is exact; it writes no rejected-rows file.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ledger.models import NewDonation, RefundEvent
from bot.ledger.store import Ledger
from bot.sources.base import Importer, Parsed, RowError, Skipped
from bot.sources.csvutil import read_header, split_row, write_private_csv, write_private_text
from bot.sources.jsonarray import is_json_array

__all__ = ["REJECTED_COLUMNS", "ImportFailed", "ImportSummary", "copy_ledger", "count_lines", "import_file"]

REJECTED_COLUMNS = ("rejected_line", "rejected_column", "rejected_problem")

CHUNK = 20_000
MAX_ERRORS_SHOWN = 20


class ImportFailed(Exception):
    """The file was not imported; ``errors`` are ``FILE:LINE: column: problem`` lines."""

    def __init__(self, errors: list[str], more: int = 0, *, rows: bool = False) -> None:
        self.errors = errors
        self.more = more
        self.rows = rows  # the errors are rows' (--skip-invalid would import the rest), not the file's
        suffix = f"\n... and {more} more" if more else ""
        super().__init__("\n".join(errors) + suffix)


@dataclass
class ImportSummary:
    file: Path
    platform: str
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    refunds_applied: int = 0
    refunds_pending: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    rejected_file: Path | None = None
    dry_run: bool = False
    months: set[int] = field(default_factory=set)

    def lines(self) -> list[str]:
        verb = "would import" if self.dry_run else "imported"
        out = [
            f"{self.file}: {self.rows} rows read ({self.platform})",
            f"  {verb}: {self.imported}",
            f"  duplicates (already in the ledger or twice in the file): {self.duplicates}",
            f"  refunds applied: {self.refunds_applied}",
        ]
        if self.refunds_pending:
            out.append(f"  refunds kept until their donation arrives: {self.refunds_pending}")
        for reason, count in sorted(self.skipped.items()):
            out.append(f"  skipped, {reason}: {count}")
        if self.rejected:
            where = "would be written to" if self.dry_run else "written to"
            out.append(f"  rejected (invalid): {self.rejected}, {where} {self.rejected_file}")
        if self.dry_run:
            out.append("  dry run: nothing was written")
        return out


def copy_ledger(source: Path, target: Path) -> None:
    """Copy the ledger at ``source`` (if there is one) to ``target`` without writing beside it.

    At rest (no ``-wal`` file) the file is opened immutable: SQLite then creates no
    ``-wal`` or ``-shm`` next to it. While a service holds it, the WAL is there and read.
    """
    if not source.exists():
        return
    wal = source.with_name(source.name + "-wal")
    flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?{flags}", uri=True)
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
        finally:
            writer.close()
    finally:
        reader.close()


def count_lines(path: Path) -> int:
    """Lines in the file (fast, for a progress bar's total)."""
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count


async def import_file(
    ledger: Ledger,
    importer: Importer,
    path: Path,
    tz: ZoneInfo,
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
    expected_rows: int | None = None,
    finishing: Callable[[bool], None] | None = None,
) -> ImportSummary:
    """Import ``path`` with ``importer``; raise ImportFailed (nothing written) on a bad row.

    ``expected_rows`` is the file's line count when the caller has it (for its progress
    bar); it lets a large import take the ledger's bulk route (see ``Ledger.batch``).
    ``finishing`` is called once every row is in, before the ledger brings its indexes
    and rollups up to date and commits, with whether the bulk route was taken (that can
    take a while: a caller shows it).
    """
    summary = ImportSummary(file=path, platform=importer.name, dry_run=dry_run)
    rows: Iterator[Parsed | Skipped | RowError] = importer.rows(path, tz)
    errors: list[RowError] = []
    next_chunk: Callable[[], list[Parsed | Skipped | RowError]] = lambda: list(islice(rows, CHUNK))  # noqa: E731
    try:
        if expected_rows is None:
            expected_rows = await asyncio.to_thread(count_lines, path)
        async with ledger.batch(expected_rows) as batch:
            last_line = 0
            while chunk := await asyncio.to_thread(next_chunk):
                items: list[NewDonation | RefundEvent] = []
                for row in chunk:
                    if row.line != last_line:  # one row may yield two items (a refund row)
                        summary.rows += 1
                        last_line = row.line
                    if isinstance(row, Parsed):
                        items.append(row.item)
                    elif isinstance(row, Skipped):
                        summary.skipped[row.reason] += 1
                    else:
                        errors.append(row)
                if errors and not skip_invalid:
                    # Keep reading a little to report several problems at once, then give up.
                    if len(errors) >= MAX_ERRORS_SHOWN:
                        break
                    continue
                await batch.add(items)
                if progress is not None:
                    progress(last_line)
            if errors and not skip_invalid:
                raise _Abort
            if dry_run:
                batch.abort()
            elif finishing is not None:
                finishing(batch.bulk)
    except _Abort:
        shown = [e.describe(path) for e in errors[:MAX_ERRORS_SHOWN]]
        raise ImportFailed(shown, max(len(errors) - MAX_ERRORS_SHOWN, 0), rows=True) from None
    except (ValueError, OverflowError) as exc:  # OverflowError: a date beyond year 1..9999 once in UTC
        text = str(exc)
        raise ImportFailed([text if text.startswith(str(path)) else f"{path}: {text}"]) from None
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise ImportFailed([f"{path}: not a readable CSV file: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ImportFailed([f"{path}: not text in the expected encoding: {exc.reason}"]) from None
    result = batch.result
    summary.imported = result.inserted
    summary.duplicates = result.duplicates
    summary.refunds_applied = result.refunds_applied
    summary.refunds_pending = result.refunds_pending
    summary.months = set(result.months or ())
    if errors:
        summary.rejected = len(errors)
        if is_json_array(path):
            summary.rejected_file = path.with_name(path.name + ".rejected.json")
            if not dry_run:
                _write_rejected_json(summary.rejected_file, errors)
        else:
            summary.rejected_file = path.with_name(path.name + ".rejected.csv")
            if not dry_run:
                _write_rejected(summary.rejected_file, path, errors)
    return summary


class _Abort(Exception):
    """Rolls the import's transaction back after invalid rows."""


def _write_rejected_json(target: Path, errors: list[RowError]) -> None:
    """A JSON export's rejected entries as it wrote them, each with a ``rejected`` key saying why.

    Each entry is the element with only the part that was rejected (a sponsorship with
    one transaction); the importers ignore ``rejected``, so the file imports again as is.
    """
    entries = []
    for error in errors:
        entry = json.loads(error.raw) if error.raw else {}
        reason = {"where": error.where, "column": error.column, "problem": error.problem}
        parts = entry.get("transactions") if isinstance(entry, dict) else None
        if isinstance(parts, list) and parts and all(isinstance(part, dict) for part in parts):
            for part in parts:
                part["rejected"] = reason
        elif isinstance(entry, dict):
            entry["rejected"] = reason
        entries.append(entry)
    write_private_text(target, json.dumps(entries, ensure_ascii=False, indent=1) + "\n")


def _write_rejected(target: Path, source: Path, errors: list[RowError]) -> None:
    """The rejected rows as the source wrote them, with why, in a file only its owner reads."""
    header = read_header(source)
    fields = header.fields if header else []
    delimiter = header.delimiter if header else ","
    # A rejected-rows file imported again: its reasons are replaced, not added to.
    keep = len(fields) - (len(REJECTED_COLUMNS) if tuple(fields[-3:]) == REJECTED_COLUMNS else 0)

    def rows() -> Iterator[list[str]]:
        for error in errors:
            cells = split_row(error.raw, delimiter) if error.raw else []
            if len(cells) == len(fields):
                cells = cells[:keep]
            # Padded so the reasons land in their columns; a row longer than the header stays whole.
            yield [*cells, *[""] * (keep - len(cells)), str(error.line), error.column, error.problem]

    write_private_csv(
        target,
        [*fields[:keep], *REJECTED_COLUMNS],
        rows(),
        delimiter=delimiter,
        quote_all=header.quote_all if header else False,
    )
