"""Fixed-window request counters per client address and bucket, kept in the key-value store
so that every gateway replica counts together."""

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
        window = int(now // self.window)
        key = f"ratelimit:{bucket}:{window}:{client}"
        try:
            count = await self.kv.incr(key, ttl_seconds=self.window)
        except Exception as exc:
            # fail open: an unavailable counter store must not lock everybody out of login
            log.warning("rate limit counter unavailable: %s", exc)
            return
        if count > limit:
            retry_after = max(1, math.ceil((window + 1) * self.window - now))
            raise ApiError(429, headers={"Retry-After": str(retry_after)})
