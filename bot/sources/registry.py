"""Every importer ``donorbot import PLATFORM FILE`` knows, by the name the user types."""

from __future__ import annotations

from bot.sources.base import Importer
from bot.sources.github_sponsors import GitHubSponsorsImporter
from bot.sources.kofi import KofiImporter
from bot.sources.liberapay import LiberapayImporter
from bot.sources.native_csv import NativeCsvImporter
from bot.sources.opencollective import OpenCollectiveImporter
from bot.sources.paypal import PayPalImporter

__all__ = ["IMPORTERS"]

IMPORTERS: dict[str, Importer] = {
    "csv": NativeCsvImporter(),
    "opencollective": OpenCollectiveImporter(),
    "liberapay": LiberapayImporter(),
    "github-sponsors": GitHubSponsorsImporter(),
    "paypal": PayPalImporter(),
    "kofi": KofiImporter(),
}
