"""The native CSV's fast path reads every row it accepts exactly as the careful path does.

The careful path (``NativeCsvImporter._row``) is the reference: it validates each value
and words the errors. The fast path remembers currencies and amounts across rows and
hands anything unusual to it; wherever it does answer, the donation must be the same.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.base import Parsed
from bot.sources.native_csv import COLUMNS, REQUIRED, NativeCsvImporter, _FastRows

VALUES = {
    "id": st.sampled_from(["a1", " b2 ", "", "c-3", "é4"]),
    "date": st.sampled_from(
        [
            "2025-03-30T01:30:00",
            "2025-03-30T02:30:00",
            "2025-10-26T02:30:00",
            "2025-12-31T23:30:00Z",
            "2025-12-31T23:30:00+02:00",
            "2025-12-31",
            " 2026-01-01T00:00:00.5 ",
            "2025-02-30T10:00:00",
            "yesterday",
            "",
            "1969-12-31T23:00:00Z",
            "9999-12-31T23:59:59-05:00",
            "2025-06-01 10:00:00",
        ]
    ),
    "amount": st.sampled_from(
        ["5", "5.00", " 10.5 ", "0", "0.00", "-5", "5.001", "5,00", "1e3", "", "12345678"]
    ),
    "currency": st.sampled_from(["EUR", "eur", " USD ", "JPY", "KWD", "XXX", "EURO", ""]),
    "donor": st.sampled_from(["", "jo", "Jo@Example.org", " kofi-1 ", "a@b"]),
    "name": st.sampled_from(["", "Jo", " Ann "]),
    "public": st.sampled_from(["", "true", "TRUE", "yes", "no", "0", "1", "oui", "maybe", " y "]),
    "message": st.sampled_from(["", "merci", " hi "]),
    "recurring": st.sampled_from(["", "true", "false", "Non", "2"]),
    "kind": st.sampled_from(["", "person", "Organisation", "org", "ORGANIZATION", "robot"]),
    "status": st.sampled_from(["", "succeeded", "Succeeded", "refunded", "disputed", "lost"]),
}
TZ = ZoneInfo("America/New_York")


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(COLUMNS), unique=True).map(
        lambda extra: [*REQUIRED, *(c for c in extra if c not in REQUIRED)]
    ),
    st.data(),
)
def test_the_fast_path_agrees_with_the_careful_one(header: list[str], data: st.DataObject) -> None:
    header = data.draw(st.permutations(header))
    index = {name: i for i, name in enumerate(header)}
    fast = _FastRows(index, TZ)
    importer = NativeCsvImporter()
    for _ in range(5):  # several rows: the second sees what the first taught the caches
        fields = [data.draw(VALUES[name]) for name in header]
        quick = fast.parse(fields)
        try:
            careful = list(importer._row(fields, index, 7, TZ))
        except OverflowError:  # a date beyond year 9999 in UTC: the pipeline reports it
            assert quick is None
            continue
        if quick is not None:
            assert careful and isinstance(careful[0], Parsed), (fields, careful)
            assert careful[0].item == quick, fields
