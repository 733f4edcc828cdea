"""The heap of a long-running server process.

Python's collector now and then walks every object it tracks (a generation-2 collection): in
a service that is the whole application it built at start-up, about 170,000 objects in the
all-in-one, and the walk stopped every request in the process for about 0.1 s, a few times a
minute under load (the tail of the segment latency in docs/benchmarks.md). What start-up made
lives as long as the process, so it is moved out of the collector's reach once start-up is
done (`gc.freeze`); later collections walk only what requests made, in a few milliseconds.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI


def freeze_after_startup(app: FastAPI) -> FastAPI:
    """`app`, whose lifespan ends its start-up with one full collection and `gc.freeze()`.
    For the process's own server only: a test that froze its objects would keep them."""
    started = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with started(app_) as state:
            gc.collect()
            gc.freeze()
            yield state

    app.router.lifespan_context = lifespan
    return app
