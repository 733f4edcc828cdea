"""A service's start-up ends with what it built frozen out of the collector's reach."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI

from common.heap import freeze_after_startup


async def test_start_up_ends_with_its_objects_frozen() -> None:
    built: list[object] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, object]]:
        built.append([object() for _ in range(1000)])  # what a start-up makes
        yield {"ready": True}
        built.clear()

    app = freeze_after_startup(FastAPI(lifespan=lifespan))
    frozen_before = gc.get_freeze_count()
    try:
        async with app.router.lifespan_context(app) as state:
            assert state == {"ready": True}  # the service's own lifespan state passes through
            assert built  # its start-up ran first
            assert gc.get_freeze_count() >= frozen_before + 1000
        assert built == []  # and its shutdown after
    finally:
        gc.unfreeze()  # a test process must not keep the suite's objects
