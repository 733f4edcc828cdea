"""Work done after the answer, so that how long an answer takes tells nothing about it.

A password reset for a known address writes a link and a mail event; for an unknown one it
does nothing. Done on the request path, the difference shows in the answer's timing and
tells which addresses have accounts. The request path hands the address over instead,
the same way for both, and the work runs as a task of its own.

The tasks are in memory: a process that dies between the answer and the work loses that
reset (the person asks again). Shutdown waits for the tasks still running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec

log = logging.getLogger(__name__)

P = ParamSpec("P")

RETRY_DELAYS_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)  # a database that restarts, about 15 s


class Deferred:
    def __init__(self, retry_delays: tuple[float, ...] = RETRY_DELAYS_SECONDS) -> None:
        self.retry_delays = retry_delays
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, work: Callable[P, Awaitable[None]], *args: P.args, **kwargs: P.kwargs) -> None:
        """Run `work` after the current request; failures are retried, then logged."""
        task = asyncio.create_task(self._run(work, *args, **kwargs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, work: Callable[P, Awaitable[None]], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        name = getattr(work, "__name__", "work")
        for delay in (*self.retry_delays, None):
            try:
                await work(*args, **kwargs)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if delay is None:
                    log.exception("deferred %s failed for good", name)
                    return
                log.warning("deferred %s failed; retrying in %ss", name, delay, exc_info=True)
                await asyncio.sleep(delay)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the running tasks (shutdown); cancel what is left after `timeout`."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d deferred task(s) cancelled at shutdown", len(pending))
            await asyncio.gather(*pending, return_exceptions=True)
