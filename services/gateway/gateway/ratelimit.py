"""Request limits per client address and bucket over a sliding window, counted in the
key-value store so that every gateway replica counts together.

Each window of `window_seconds` has its own counter; a request is measured against the
current window's count plus the previous window's, weighted by how much of the previous
window still lies within the last `window_seconds` (the usual two-counter approximation of a
sliding log). A fixed window alone let a burst of twice the limit through around each
boundary (the end of one window and the start of the next), and made whether the 11th of
eleven quick logins was refused depend on the clock."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping

from starlette.requests import Request

from common.config import Settings
from common.errors import ApiError
from common.kv import KeyValueStore

log = logging.getLogger(__name__)


def client_address(request: Request) -> str:
    """The ASGI peer. X-Forwarded-For is never read here: only when the socket peer is listed in
    FORWARDED_ALLOW_IPS does uvicorn put its client in the peer's place (common.httpserver)."""
    return request.client.host if request.client else "unknown"


class RateLimiter:
    def __init__(
        self,
        kv: KeyValueStore,
        *,
        limits: Mapping[str, int],
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kv = kv
        self.limits = dict(limits)
        self.window = max(1, window_seconds)
        self.clock = clock

    @classmethod
    def from_settings(cls, kv: KeyValueStore, settings: Settings) -> RateLimiter:
        return cls(
            kv,
            limits={
                "login": settings.rate_limit_login,
                "register": settings.rate_limit_register,
                "password_reset": settings.rate_limit_password_reset,
            },
            window_seconds=settings.rate_limit_window_seconds,
        )

    async def hit(self, bucket: str, client: str) -> None:
        """Count one request; 429 with Retry-After once the bucket's limit is passed."""
        limit = self.limits.get(bucket, 0)
        if limit <= 0:
            return
        now = self.clock()
        window, into = divmod(now, self.window)
        current = int(window)

        def key(n: int) -> str:  # not str.format: a client or bucket may hold braces
            return f"ratelimit:{bucket}:{n}:{client}"

        try:
            # kept for two windows: the next window still weighs this one
            count = await self.kv.incr(key(current), ttl_seconds=2 * self.window)
            previous = int(await self.kv.get(key(current - 1)) or 0)
        except Exception as exc:
            # fail open: an unavailable counter store must not lock everybody out of login
            log.warning("rate limit counter unavailable: %s", exc)
            return
        if round(count + previous * (self.window - into) / self.window, 6) > limit:
            retry_after = self._seconds_until_allowed(limit, count, previous, into)
            raise ApiError(429, headers={"Retry-After": str(retry_after)})

    def _seconds_until_allowed(self, limit: int, count: int, previous: int, into: float) -> int:
        """When one more request would pass if none came meanwhile (whole seconds, >= 1; at
        most two windows: refused requests count too, so hammering keeps a client out)."""
        room = limit - count - 1  # what the previous window's weight must fall to
        if room >= 0 and previous > 0:
            at = self.window * (1 - room / previous)  # later in this window
            if at < self.window:
                return _whole_seconds(at - into)
        # in the next window, where this window's count is the weighted previous one
        share = max(0.0, 1 - (limit - 1) / count)
        return _whole_seconds(self.window - into + self.window * share)


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(round(seconds, 6)))  # 40.00000000001 is 40
