"""In-process key-value store for the all-in-one wiring: a dict with monotonic-clock expiry.

Expired keys are dropped when touched and by a sweep that runs every so many writes (or once a
minute), so keys nobody reads again (rate-limit counters, one-off tokens) do not pile up.
Every operation completes without awaiting, so each one is atomic under asyncio.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SWEEP_EVERY_SECONDS = 60.0
SWEEP_MIN_WRITES = 1024


class InMemoryKeyValueStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[str, float | None]] = {}  # key -> (value, expires at)
        self._writes_since_sweep = 0
        self._last_sweep = clock()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()

    async def ping(self) -> bool:
        return True

    # ------------------------------------------------------------------ internals

    def _live(self, key: str, now: float) -> tuple[str, float | None] | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= now:
            del self._data[key]
            return None
        return entry

    def _wrote(self, now: float) -> None:
        """Sweep once writes since the last sweep reach the store's size (amortised O(1)),
        or when a minute has passed."""
        self._writes_since_sweep += 1
        due = self._writes_since_sweep >= max(SWEEP_MIN_WRITES, len(self._data))
        if due or now - self._last_sweep >= SWEEP_EVERY_SECONDS:
            self.sweep(now)

    def sweep(self, now: float | None = None) -> int:
        """Drop every expired key; returns how many."""
        now = self._clock() if now is None else now
        expired = [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]
        for k in expired:
            del self._data[k]
        self._writes_since_sweep = 0
        self._last_sweep = now
        return len(expired)

    def __len__(self) -> int:
        return len(self._data)

    # ------------------------------------------------------------------ the port

    async def get(self, key: str) -> str | None:
        entry = self._live(key, self._clock())
        return None if entry is None else entry[0]

    async def get_many(self, *keys: str) -> list[str | None]:
        now = self._clock()
        return [None if (entry := self._live(key, now)) is None else entry[0] for key in keys]

    async def set(self, key: str, value: str, *, ttl_seconds: float | None = None) -> None:
        now = self._clock()
        if ttl_seconds is not None and ttl_seconds <= 0:
            self._data.pop(key, None)  # already expired
            return
        self._data[key] = (str(value), None if ttl_seconds is None else now + ttl_seconds)
        self._wrote(now)

    async def set_if_absent(
        self, key: str, value: str, *, ttl_seconds: float | None = None
    ) -> bool:
        now = self._clock()
        if self._live(key, now) is not None:
            return False
        if ttl_seconds is not None and ttl_seconds <= 0:
            return True  # set, and expired at once
        self._data[key] = (str(value), None if ttl_seconds is None else now + ttl_seconds)
        self._wrote(now)
        return True

    async def delete(self, *keys: str) -> int:
        now = self._clock()
        deleted = 0
        for key in keys:
            if self._live(key, now) is not None:
                del self._data[key]
                deleted += 1
        return deleted

    async def incr(self, key: str, *, ttl_seconds: float | None = None) -> int:
        """Like the Redis adapter: the TTL applies when the counter has none (EXPIRE NX)."""
        now = self._clock()
        entry = self._live(key, now)
        if entry is None:
            value, expires = 0, None
        else:
            try:
                value = int(entry[0])
            except ValueError:
                raise ValueError(f"{key!r} does not hold an integer") from None
            expires = entry[1]
        value += 1
        if expires is None and ttl_seconds is not None:
            if ttl_seconds <= 0:
                self._data.pop(key, None)
                return value
            expires = now + ttl_seconds
        self._data[key] = (str(value), expires)
        self._wrote(now)
        return value

    async def ttl(self, key: str) -> float | None:
        now = self._clock()
        entry = self._live(key, now)
        if entry is None or entry[1] is None:
            return None
        return entry[1] - now
