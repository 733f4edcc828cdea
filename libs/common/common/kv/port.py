"""What a key-value adapter must do: strings with optional TTLs, and counters."""

from __future__ import annotations

from typing import Protocol


class KeyValueStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def get(self, key: str) -> str | None: ...

    async def get_many(self, *keys: str) -> list[str | None]:
        """The value of each key, in order, in one round trip (None for a missing one)."""

    async def set(self, key: str, value: str, *, ttl_seconds: float | None = None) -> None: ...

    async def set_if_absent(
        self, key: str, value: str, *, ttl_seconds: float | None = None
    ) -> bool:
        """Set only when the key does not exist; True if this call set it."""

    async def delete(self, *keys: str) -> int: ...

    async def incr(self, key: str, *, ttl_seconds: float | None = None) -> int:
        """Add one and return the new value; the TTL is set when the counter is created."""

    async def ttl(self, key: str) -> float | None:
        """Seconds left, or None for a missing key or one without expiry."""
