"""Wiring of the transcoder worker: consumes transcode jobs one at a time.

Until the pipeline lands, a job cannot be done and is parked in the dead letters (never
acknowledged away), so nothing uploaded is lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from common.bus import PermanentError
from common.bus.topology import TRANSCODER
from common.config import Settings
from common.errors import install_error_handlers
from common.events import Envelope
from common.health import health_router
from common.ports import Ports


def create_app(settings: Settings, ports: Ports) -> FastAPI:
    async def on_job(envelope: Envelope) -> None:
        raise PermanentError("transcoding is not implemented yet")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ports.bus.consume(TRANSCODER.name, on_job, prefetch=1)
        yield

    app = FastAPI(title="Videoflix transcoder", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router({"bus": ports.bus.ping, "object_store": ports.store.ping}))
    return app
