"""The serialized public video list, cached in the key-value store.

Invalidation bumps a generation counter instead of deleting the entry: a reader notes the
generation *before* it queries the database and stores what it read under that generation, so
a reader that raced a change can only fill an entry nobody asks for any more. Entries expire,
which also bounds the damage of a lost counter (a restarted Redis).

The cache is an optimisation only: when the key-value store fails, the list comes from the
database and the failure is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from common.kv import KeyValueStore

log = logging.getLogger(__name__)

GENERATION_KEY = "catalog:video-list:generation"
ENTRY_KEY = "catalog:video-list:{generation}"


class VideoListCache:
    def __init__(self, kv: KeyValueStore, *, ttl_seconds: float) -> None:
        self._kv = kv
        self._ttl = ttl_seconds

    async def get_or_build(self, build: Callable[[], Awaitable[str]]) -> str:
        try:
            generation = await self._kv.get(GENERATION_KEY) or "0"
            cached = await self._kv.get(ENTRY_KEY.format(generation=generation))
        except Exception:
            log.warning("video list cache unavailable", exc_info=True)
            return await build()
        if cached is not None:
            return cached
        body = await build()
        try:
            await self._kv.set(ENTRY_KEY.format(generation=generation), body, ttl_seconds=self._ttl)
        except Exception:
            log.warning("could not cache the video list", exc_info=True)
        return body

    async def invalidate(self) -> None:
        try:
            await self._kv.incr(GENERATION_KEY)
        except Exception:
            # the entry still expires after the TTL
            log.error("could not invalidate the cached video list", exc_info=True)
