"""Housekeeping that runs beside a service: the same work now and then every so often."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(seconds: float, work: Callable[[], Awaitable[object]], *, what: str) -> None:
    """`work()` now and then every `seconds`, until cancelled. A round that fails (a database
    or store hiccup) is logged as "could not <what>" and the next round comes as planned."""
    while True:
        try:
            await work()
        except Exception:
            log.exception("could not %s", what)
        await asyncio.sleep(seconds)
