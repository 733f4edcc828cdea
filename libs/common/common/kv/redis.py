"""Key-value store on Redis (redis.asyncio). Every key gets the configured prefix, so several
deployments or test runs can share one server."""

from __future__ import annotations

import math
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

# INCR, then give the counter a TTL if it has none (EXPIRE NX semantics, but also on Redis < 7).
# One script, so a crash between the two steps cannot leave a counter that never expires.
_INCR_WITH_TTL = """
local value = redis.call('INCR', KEYS[1])
if ARGV[1] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return value
"""


def _ttl_ms(ttl_seconds: float) -> int:
    """Milliseconds, rounded up so a tiny positive TTL still expires later, not now."""
    return math.ceil(round(ttl_seconds * 1000, 6))  # round: 0.7 * 1000 is 700.0000000000001


class RedisKeyValueStore:
    def __init__(self, url: str, prefix: str = "") -> None:
        self.prefix = prefix
        self._redis = aioredis.from_url(url, decode_responses=True)
        self._incr = self._redis.register_script(_INCR_WITH_TTL)

    def _k(self, key: str) -> str:
        return f"{self.prefix}{key}"

    async def start(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def get(self, key: str) -> str | None:
        # decode_responses=True: the client answers str, though its stubs also allow bytes
        return cast("str | None", await self._redis.get(self._k(key)))

    async def get_many(self, *keys: str) -> list[str | None]:
        if not keys:
            return []
        return cast("list[str | None]", await self._redis.mget([self._k(k) for k in keys]))

    async def set(self, key: str, value: str, *, ttl_seconds: float | None = None) -> None:
        if ttl_seconds is not None and ttl_seconds <= 0:
            # already expired (e.g. a TTL computed from a past deadline): nothing to keep
            await self._redis.delete(self._k(key))
            return
        px = None if ttl_seconds is None else _ttl_ms(ttl_seconds)
        await self._redis.set(self._k(key), value, px=px)

    async def set_if_absent(
        self, key: str, value: str, *, ttl_seconds: float | None = None
    ) -> bool:
        if ttl_seconds is not None and ttl_seconds <= 0:
            return not await self._redis.exists(self._k(key))
        px = None if ttl_seconds is None else _ttl_ms(ttl_seconds)
        return bool(await self._redis.set(self._k(key), value, px=px, nx=True))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._redis.delete(*(self._k(k) for k in keys)))

    async def incr(self, key: str, *, ttl_seconds: float | None = None) -> int:
        # PEXPIRE with a non-positive TTL deletes the key, matching "expired right away"
        ttl = "" if ttl_seconds is None else str(_ttl_ms(ttl_seconds))
        try:
            return int(await self._incr(keys=[self._k(key)], args=[ttl]))
        except ResponseError as exc:
            if "not an integer" in str(exc):
                raise ValueError(f"{key!r} does not hold an integer") from exc
            raise

    async def ttl(self, key: str) -> float | None:
        ms = await self._redis.pttl(self._k(key))
        if ms is None or ms < 0:  # -2 missing, -1 no expiry
            return None
        return ms / 1000
