"""Reading an API's answer defensively: an unexpected shape is a SyncError naming the path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.sources.sync.base import SyncError

__all__ = ["Reader", "Unexpected"]


class Unexpected(SyncError):
    """The API answered something the sync does not understand (a changed schema)."""

    def __init__(self, what: str, where: str, problem: str) -> None:
        super().__init__(f"{what}: unexpected answer at {where}: {problem}")


class Reader:
    """Typed access to one API's JSON, with ``what`` (the API's name) in every error."""

    def __init__(self, what: str) -> None:
        self.what = what

    def fail(self, where: str, problem: str) -> Unexpected:
        return Unexpected(self.what, where, problem)

    def object(self, value: Any, where: str, *, optional: bool = False) -> dict[str, Any] | None:
        if value is None and optional:
            return None
        if not isinstance(value, dict):
            raise self.fail(where, "expected an object")
        return value

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        found = self.object(value, where)
        assert found is not None
        return found

    def list(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "expected a list")
        return value

    def text(self, obj: dict[str, Any], key: str, where: str, *, optional: bool = False) -> str:
        value = obj.get(key)
        if value is None and optional:
            return ""
        if not isinstance(value, str) or (not value and not optional):
            raise self.fail(f"{where}.{key}", "expected a non-empty string")
        return value

    def integer(self, obj: dict[str, Any], key: str, where: str, *, optional: bool = False) -> int | None:
        value = obj.get(key)
        if value is None and optional:
            return None
        # JSON numbers arrive as floats from some APIs (Open Collective's valueInCents): whole ones only.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where}.{key}", f"expected a whole number (got {value!r:.40})")
        return value

    def boolean(self, obj: dict[str, Any], key: str, where: str) -> bool:
        value = obj.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", "expected true or false")
        return value

    def time(self, obj: dict[str, Any], key: str, where: str) -> datetime:
        value = obj.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return datetime.fromtimestamp(value, UTC)
            except (OverflowError, OSError, ValueError):
                raise self.fail(f"{where}.{key}", "not a time") from None
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", "expected a date-time")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(f"{where}.{key}", f"not an ISO 8601 date-time: {value[:40]!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # the APIs speak UTC
        return parsed.astimezone(UTC)
