"""Start-up against backing services that may not be up yet: wait and retry with backoff.

A service started before its broker, Redis, S3 server or database (a fresh machine, a
`docker compose up`, a node reboot) waits for them, saying at WARNING what it waits for,
instead of exiting; STARTUP_TIMEOUT_SECONDS bounds the whole wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

T = TypeVar("T")


async def until_up(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    timeout: float,
    first_delay: float = 0.5,
    max_delay: float = 10.0,
) -> T:
    """`await attempt()` until it succeeds, waiting between failures (doubling from
    `first_delay` up to `max_delay`). Once `timeout` seconds have passed the last error is
    raised; with `timeout` 0 there is one attempt."""
    deadline = time.monotonic() + timeout
    delay = first_delay
    while True:
        try:
            return await attempt()
        except Exception as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise
            pause = min(delay, remaining)
            log.warning(
                "waiting for %s (%s: %s); next try in %.1fs, giving up in %.0fs",
                what,
                type(exc).__name__,
                exc,
                pause,
                remaining,
            )
            await asyncio.sleep(pause)
            delay = min(delay * 2, max_delay)


def where(url: str) -> str:
    """host:port of a URL (or of a bare `host:port`), never its credentials."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host
