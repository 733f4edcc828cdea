"""The serialized public video list, cached in the key-value store; and, per process, which
renditions each playable video has (the segment hot path: no database query per request).

Invalidation bumps a generation counter instead of deleting the entry: a reader notes the
generation *before* it queries the database and stores what it read under that generation, so
a reader that raced a change can only fill an entry nobody asks for any more. Entries expire,
which also bounds the damage of a lost counter (a restarted Redis).

The cache is an optimisation only: when the key-value store fails, the list comes from the
database and the failure is logged.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
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

    async def generation(self) -> str:
        """The current generation; every change of the list (hence of any video's
        readiness) bumps it. Raises what the key-value store raises."""
        return await self._kv.get(GENERATION_KEY) or "0"

    async def invalidate(self) -> None:
        try:
            await self._kv.incr(GENERATION_KEY)
        except Exception:
            # the entry still expires after the TTL
            log.error("could not invalidate the cached video list", exc_info=True)


PLAYABLE_TTL_SECONDS = 10.0
PLAYABLE_MAX_ENTRIES = 10_000

Renditions = tuple[str, ...]


class PlayableCache:
    """Per process: the renditions of each playable video, keyed by (generation, id).

    Every catalog replica reads the shared generation (`VideoListCache.generation`, one
    key-value lookup) on each request, so a change made by any replica (a delete, a video
    turning ready) drops every replica's entries at once. Like the list, an entry is stored
    under the generation noted *before* the database was read, so a reader that raced a change
    only fills an entry nobody asks for. Entries also expire after `ttl_seconds`: the bound on
    serving a video that stopped being playable when the counter itself is lost (a restarted
    key-value store). Only playable videos are kept; a miss asks the database, as does every
    request while the key-value store fails.
    """

    def __init__(
        self,
        generation: Callable[[], Awaitable[str]],
        *,
        ttl_seconds: float = PLAYABLE_TTL_SECONDS,
        max_entries: int = PLAYABLE_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._generation = generation
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[int, tuple[str, float, Renditions]] = OrderedDict()

    async def get_or_load(
        self, video_id: int, load: Callable[[], Awaitable[Renditions | None]]
    ) -> Renditions | None:
        """The renditions of a playable video, None when it is not playable (not cached)."""
        try:
            generation = await self._generation()
        except Exception:
            log.warning("playable cache unavailable", exc_info=True)
            return await load()
        now = self._clock()
        entry = self._entries.get(video_id)
        if entry is not None:
            if entry[0] == generation and entry[1] > now:
                self._entries.move_to_end(video_id)
                return entry[2]
            del self._entries[video_id]
        renditions = await load()
        if renditions is not None:
            self._entries[video_id] = (generation, now + self._ttl, renditions)
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return renditions
