"""Colours, sizes and words of the pictures, kept apart from the drawing code.

The palette is chosen to read on both light and dark chat themes: the picture
always has its own opaque, slightly warm background with dark text, so it never
depends on what the client paints behind it.
"""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

__all__ = [
    "BACKGROUND_COLOUR",
    "CHART_SIZE",
    "DPI",
    "FONT_FAMILY",
    "GOAL_FILL_COLOUR",
    "GOAL_SIZE",
    "GOAL_TRACK_COLOUR",
    "GRID_COLOUR",
    "HIGHLIGHT_COLOUR",
    "HIGHLIGHT_NEW_COLOUR",
    "MUTED_TEXT_COLOUR",
    "NEW_COLOUR",
    "RECORD_COLOUR",
    "RETURNING_COLOUR",
    "TEXT_COLOUR",
    "words",
]

DPI = 100
CHART_SIZE = (1200, 675)
GOAL_SIZE = (1200, 300)
FONT_FAMILY = ["DejaVu Sans"]

BACKGROUND_COLOUR = "#f8f6f1"
TEXT_COLOUR = "#1f2933"
MUTED_TEXT_COLOUR = "#52606d"
GRID_COLOUR = "#dcd8cf"

# Returning donors are the solid base of each bar; new donors sit on top in a lighter tint.
RETURNING_COLOUR = "#4f6d9a"
NEW_COLOUR = "#9fbbe0"
# The reported month: the same split, in warm orange instead of blue.
HIGHLIGHT_COLOUR = "#e8590c"
HIGHLIGHT_NEW_COLOUR = "#ffb37a"
RECORD_COLOUR = "#7b2d43"

GOAL_FILL_COLOUR = "#2b9a5a"
GOAL_TRACK_COLOUR = "#dde3ea"

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "returning": "Returning donors",
        "new": "New donors",
        "record": "Previous record: {count}",
        "of": "{reached} of {target}",
        "reached": "Goal reached!",
        "alt_chart": "Bar chart of donors per month, from {first} to {last}.",
        "alt_one_month": "Bar chart of donors in {month}.",
        "alt_month": "In {month}, the highlighted bar: {total} donors, {new} of them new and {returning} returning.",
        "alt_month_none": "No donors are recorded for {month}, the highlighted month.",
        "alt_record_beaten": "That beats the previous record of {record} donors in a month.",
        "alt_record": "The dashed line marks the previous record: {record} donors in a month.",
        "alt_peak": "The busiest month shown is {month} with {total} donors.",
        "alt_goal": "Goal “{title}”: {reached} of {target} ({percent}).",
        "alt_goal_bar": "Progress bar for the goal “{title}”: {reached} of {target} ({percent}).",
    },
    "fr": {
        "returning": "Donateurs fidèles",
        "new": "Nouveaux donateurs",
        "record": "Record précédent : {count}",
        "of": "{reached} sur {target}",
        "reached": "Objectif atteint !",
        "alt_chart": "Diagramme en barres des donateurs par mois, de {first} à {last}.",
        "alt_one_month": "Diagramme en barres des donateurs en {month}.",
        "alt_month": "En {month}, la barre mise en évidence : {total} donateurs, dont {new} nouveaux et {returning} fidèles.",
        "alt_month_none": "Aucun donateur n’est enregistré en {month}, le mois mis en évidence.",
        "alt_record_beaten": "C’est mieux que le record précédent de {record} donateurs en un mois.",
        "alt_record": "La ligne pointillée marque le record précédent : {record} donateurs en un mois.",
        "alt_peak": "Le mois le plus fourni est {month}, avec {total} donateurs.",
        "alt_goal": "Objectif « {title} » : {reached} sur {target} ({percent}).",
        "alt_goal_bar": "Barre de progression de l’objectif « {title} » : {reached} sur {target} ({percent}).",
    },
}


def words(locale: str) -> dict[str, str]:
    """The picture's fixed words for ``locale``'s language (English when it has none)."""
    try:
        language = Locale.parse(locale.replace("-", "_")).language
    except (UnknownLocaleError, ValueError):
        language = "en"
    return _WORDS.get(language, _WORDS["en"])
