"""Build hook: compile the translation catalogues (bot/locales/*/LC_MESSAGES/*.po) into .mo files.

The .mo files are written next to their .po (they are not kept in git) and shipped in the
wheel; an editable install finds them in the source tree. A catalogue that does not compile
stops the build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompileCatalogues(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        root = Path(self.root)
        for po in sorted((root / "bot" / "locales").glob("*/LC_MESSAGES/*.po")):
            with po.open("rb") as handle:
                catalog = read_po(handle, locale=po.parent.parent.name)
            errors = [(message.id, error) for message, found in catalog.check() for error in found]
            if errors:
                raise RuntimeError(f"{po}: {errors[0][0]!r}: {errors[0][1]}")
            mo = po.with_suffix(".mo")
            with mo.open("wb") as handle:
                write_mo(handle, catalog, use_fuzzy=False)
            # .mo files are ignored by git, so hatchling would leave them out unless told.
            build_data.setdefault("artifacts", []).append(str(mo.relative_to(root)))
