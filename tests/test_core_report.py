"""The monthly report and bulletin on a small, fixed ledger: new vs returning donors,
records, milestones reported once, goals, both locales against golden files.

Set DONORBOT_REGENERATE_GOLDEN=1 to rewrite tests/golden/ after a deliberate change.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.core import Core
from bot.ledger.models import DonorKind, NewDonation, RefundEvent, Status
from bot.months import Month

GOLDEN = Path(__file__).resolve().parent / "golden"
KEY_ENV = "DONORBOT_REPORT_TEST_KEY"


def gift(
    n: int, donor: str | None, month: Month, day: int, amount: int, currency: str = "EUR", **kw: object
) -> NewDonation:
    return NewDonation(
        source="test",
        external_id=f"g{n}",
        amount=amount,
        currency=currency,
        received_at=datetime(month.year, month.month, day, 12, tzinfo=UTC),
        donor_id=None if donor is None else f"test:{donor}",
        **kw,  # type: ignore[arg-type]
    )


def history() -> list[NewDonation | RefundEvent]:
    """Six months; March is the record month (and crosses the 5-donor milestone)."""
    items: list[NewDonation | RefundEvent] = []
    n = 0
    plan = {
        Month(2025, 10): ["ann", "bob"],
        Month(2025, 11): ["ann", "cid"],
        Month(2025, 12): ["ann", "bob", "dan"],
        Month(2026, 1): ["ann"],
        Month(2026, 2): ["ann", "eve"],
        Month(2026, 3): ["ann", "bob", "fay", "gus", None, None],
    }
    for month, donors in plan.items():
        for day, donor in enumerate(donors, start=1):
            n += 1
            public = donor in ("ann", "fay")
            items.append(
                gift(
                    n,
                    donor,
                    month,
                    day,
                    1000 * day,
                    public=public,
                    display_name={"ann": "Ann <b>Bold</b>", "fay": "@everyone Fay"}.get(donor or "")
                    if public
                    else None,
                    message="Keep going! **yes**" if donor == "fay" else None,
                    recurring=donor == "ann",
                )
            )
    n += 1
    items.append(
        gift(
            n,
            "org",
            Month(2026, 3),
            20,
            250_000,
            kind=DonorKind.ORGANISATION,
            public=True,
            display_name="Acme Foundation",
        )
    )
    n += 1
    items.append(gift(n, "hal", Month(2026, 3), 21, 5000, "USD"))
    n += 1
    items.append(gift(n, "ivy", Month(2026, 3), 22, 99_999))
    items.append(
        RefundEvent(source="test", external_id=f"g{n}", status=Status.REFUNDED)
    )  # ivy's gift was refunded
    return items


@pytest.fixture
async def core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Core]:
    monkeypatch.setenv(KEY_ENV, "report-test-key-0123456789")
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[project]
name = "Donor Friends"
timezone = "Europe/Paris"
base_currency = "EUR"
donate_urls = ["https://example.org/donate"]
data_dir = "data"
rates = {{ USD = 0.5 }}

[ledger]
pseudonym_key_env = "{KEY_ENV}"

[milestones]
monthly_donors = [3, 5]
total_donors = [8]
total_amount = [1000]

[[goals]]
name = "server"
title = "A new server"
amount = 5000
donors = 20
start = 2026-01-01
end = 2026-06-30
""",
        encoding="utf-8",
    )
    config: Config = load_config(path)
    opened = await Core.open(config)
    await opened.ledger.write(history())
    try:
        yield opened
    finally:
        await opened.close()


async def test_new_returning_recurring_and_organisations(core: Core) -> None:
    march = await core.report(Month(2026, 3))
    # ann, bob, fay, gus, org, hal identified + two anonymous gifts; ivy's refunded gift does not count.
    assert march.donors == 8 and march.anonymous == 2
    assert march.new_donors == 4  # fay, gus, org, hal
    assert march.returning_donors == 2  # ann, bob
    assert march.recurring_donors == 1 and march.organisations == 1
    assert march.totals == {"EUR": 1000 * sum(range(1, 7)) + 250_000, "USD": 5000}
    assert march.total_base == 1000 * sum(range(1, 7)) + 250_000 + 2500
    assert march.largest_base == 250_000


async def test_records_milestones_once_and_goals(core: Core) -> None:
    march = await core.report(Month(2026, 3))
    assert "donors" in march.records and "total" in march.records
    assert march.previous_record_donors == 3
    kinds = {(m.kind, int(m.threshold)) for m in march.milestones}
    assert kinds == {("monthly_donors", 5), ("total_donors", 8), ("total_amount", 1000)}
    december = await core.report(Month(2025, 12))
    assert {(m.kind, int(m.threshold)) for m in december.milestones} == {("monthly_donors", 3)}
    for month in (Month(2026, 1), Month(2026, 2)):
        assert (await core.report(month)).milestones == [], "a milestone is reported once"
    everything = await core.milestones_reached()
    assert [(str(m), h.kind, int(h.threshold)) for m, h in everything] == [
        ("2025-12", "monthly_donors", 3),
        ("2026-03", "monthly_donors", 5),
        ("2026-03", "total_donors", 8),
        ("2026-03", "total_amount", 1000),
    ]
    [goal] = await core.goals_now(datetime(2026, 4, 2, tzinfo=UTC))
    assert goal.reached_amount == 1000 * (1 + 3 + 21) + 250_000 + 2500  # January to March, in euros
    assert goal.reached_donors == 8 + 1  # March's eight and eve (February)
    assert goal.percent == pytest.approx(goal.reached_amount / 500_000 * 100)


@pytest.mark.parametrize("locale", ["en", "fr", "de", "es", "it", "pt_BR", "nl", "pl"])
async def test_bulletins_match_their_golden_files(core: Core, locale: str) -> None:
    message = await core.bulletin(Month(2026, 3), locale, image=False)
    golden = GOLDEN / f"bulletin-2026-03.{locale}.md"
    if os.environ.get("DONORBOT_REGENERATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(message.markdown + "\n", encoding="utf-8")
    assert message.markdown + "\n" == golden.read_text(encoding="utf-8")
    assert "@everyone" not in message.markdown and "<b>" not in message.markdown


async def test_converted_currencies_are_counted_and_the_others_shown_apart(core: Core) -> None:
    await core.ledger.write(
        [
            gift(100, "jon", Month(2026, 4), 3, 2000, "GBP"),  # no rate for pounds
            gift(101, "kim", Month(2026, 4), 4, 1000, "USD"),  # 0.5 €/$ -> €5.00
        ]
    )
    before = (await core.report(Month(2026, 3))).goals[0]
    [goal] = (await core.report(Month(2026, 4))).goals
    assert goal.reached_amount == before.reached_amount + 500, "dollars converted, pounds not added"
    assert goal.unconverted == {"GBP": 2000}
    assert goal.reached_donors == before.reached_donors + 2, "every donor counts, whatever the currency"
    assert (await core.report(Month(2026, 4))).to_json()["goals"][0]["unconverted"] == {"GBP": "20.00"}
    en = (await core.bulletin(Month(2026, 4), "en", image=False)).markdown
    assert "Also given, in currencies we have no exchange rate for: £20.00." in en
    assert "A total of €5.00 (including $10.00) and £20.00 was raised" in en, (
        "the dollars counted in the euros, the pounds beside them: never a sum that hides a currency"
    )
    fr = (await core.bulletin(Month(2026, 4), "fr", image=False)).markdown
    assert "dans des devises sans taux de change configuré\u202f: 20,00\xa0£GB." in fr
    reply = core.renderer.reply("goal", "en", goals=[goal]).markdown
    assert "in currencies we have no exchange rate for: £20.00." in reply
    assert before.unconverted == {}, "March had dollars only: nothing apart"


@pytest.mark.parametrize("locale", ["en", "fr"])
async def test_hostile_names_and_messages_are_shown_as_text(core: Core, locale: str) -> None:
    hostile = ["@everyone", "<script>alert(1)</script>", "**bold**", "[x](http://evil.example)", "@here"]
    await core.ledger.write(
        [
            gift(200 + i, f"h{i}", Month(2026, 5), 1 + i, 500, public=True, display_name=text, message=text)
            for i, text in enumerate(hostile)
        ]
    )
    bulletin = await core.bulletin(Month(2026, 5), locale, image=False)
    assert bulletin.markdown.count("\n- ") >= len(hostile), "every public donor is listed"
    for version in (bulletin.markdown, bulletin.html, bulletin.text):
        assert "@everyone" not in version and "@here" not in version, "no mention pings anyone"
        assert "http://evil.example" not in version, "no link to follow"
    assert "<script" not in bulletin.html and "<strong>bold" not in bulletin.html
    assert re.findall(r'<a href="([^"]*)"', bulletin.html) == ["https://example.org/donate"]
    listed = [line for line in bulletin.markdown.splitlines() if line.startswith(("- €5.00", "- 5,00"))]
    assert len(listed) == len(hostile)
    for line in listed:
        assert re.search(r"(?<!\\)[<>*\[\]]", line) is None, f"unescaped Markdown or HTML in {line!r}"
    assert "<script>alert(1)</script>" in bulletin.text, "in plain text, the words stay as they were written"


async def test_the_chart_series_never_counts_anonymous_donors_as_returning(core: Core) -> None:
    series = await core.history(Month(2026, 3), 24)
    assert len(series) == 24 and series[-1].month == Month(2026, 3)
    assert all(m.donors == 0 for m in series[:-6]), "months before the first donation are empty"
    march = series[-1]
    assert (march.donors, march.new_donors, march.returning_donors) == (8, 4, 2)
    december = series[-4]
    assert (december.donors, december.returning_donors) == (3, 2)  # ann and bob came back, dan is new
