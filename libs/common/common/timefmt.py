"""How a moment is written in a JSON answer: ISO 8601 in UTC ending in `Z`, to the millisecond
(what JavaScript's `toISOString()` writes and `new Date()` reads), e.g. `created_at`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer


def utc_iso(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z` (what JavaScript's `toISOString()` writes)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


UtcDateTime = Annotated[datetime, PlainSerializer(utc_iso, return_type=str)]
"""A `datetime` field of a response model, serialised by `utc_iso`."""
