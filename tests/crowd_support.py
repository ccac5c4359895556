"""The demo ledger as a large community has it: every donor who chose to be named left a long message.

With about 300 named donors a month (200 of them listed) and a 300-character
message each, a month's bulletin is well over 100 KB: more than any one chat
message can hold on either platform.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

from bot.config import load_config
from bot.demo import DEMO_KEY, demo_donations
from bot.ledger.models import NewDonation, RefundEvent
from bot.months import Month

__all__ = ["LONG_MESSAGES", "build_crowd_ledger", "crowd_donations"]

# Long, in several languages and scripts, with what a hostile donor would try.
LONG_MESSAGES = (
    "Merci infiniment pour tout le travail accompli cette année : les nouvelles versions, la "
    "documentation traduite, l'accueil chaleureux sur le forum et la patience avec les débutants "
    "comme moi. Je donne chaque fois que je peux, parce que ce logiciel me sert tous les jours au "
    "travail et à la maison. Longue vie au projet et à toute l'équipe ! ❤️",
    "Thank you so much for everything you do. I have been using this project for almost ten years "
    "now, first at university, then at work, and now with my kids. @everyone should support it: "
    "**it matters**, <b>really</b>, and [this is not a link](https://evil.example). Keep going, "
    "the community is lucky to have you all. 🎉🎉",
    "Vielen Dank für eure großartige Arbeit! Ich spende jeden Monat einen kleinen Betrag, weil ich "
    "weiß, wie viel Zeit und Mühe in so einem Projekt steckt. Die letzte Version hat mir viele Stunden "
    "gespart, und das Forum ist immer freundlich und hilfsbereit. Weiter so, und grüßt das ganze "
    "Team von mir aus München. Übrigens: ÄÖÜ äöü ß funktionieren perfekt.",
    "日本からの寄付です。このプロジェクトのおかげで毎日の仕事がとても楽になりました。開発者の皆さん、"
    "翻訳者の皆さん、フォーラムで質問に答えてくれる皆さん、本当にありがとうございます。これからも応援して"
    "います。小さな金額ですが、毎月続けたいと思います。頑張ってください！",
)


def crowd_donations(end: Month) -> Iterator[NewDonation | RefundEvent]:
    """The demo's donations up to ``end``, each public donation carrying a long message."""
    count = 0
    for item in demo_donations(end):
        if (
            isinstance(item, NewDonation)
            and item.public
            and item.donor_id
            and not item.donor_id.startswith("demo-org:")
        ):
            item = dataclasses.replace(item, message=LONG_MESSAGES[count % len(LONG_MESSAGES)])
            count += 1
        yield item


def build_crowd_ledger(folder: Path, end: Month, key_env: str) -> Path:
    """Write the crowd ledger in ``folder`` (a config file names it); its path."""
    from bot.core import Core

    (folder / "config.toml").write_text(
        f'[project]\nname = "Donor Friends"\ntimezone = "Europe/Paris"\ndata_dir = "{folder}"\n'
        f'[ledger]\npseudonym_key_env = "{key_env}"\n',
        encoding="utf-8",
    )
    previous = os.environ.get(key_env)
    os.environ[key_env] = DEMO_KEY

    async def build() -> Path:
        config = load_config(folder / "config.toml")
        core = await Core.open(config)
        try:
            await core.ledger.write(crowd_donations(end))
        finally:
            await core.close()
        return config.ledger_path

    try:
        return asyncio.run(build())
    finally:
        if previous is None:
            del os.environ[key_env]
        else:
            os.environ[key_env] = previous
