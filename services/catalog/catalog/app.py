"""Wiring of the catalog service. So far: its database, the bus consumer of transcoder
results and health endpoints; the video routes arrive with the video pipeline."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from common.bus.topology import CATALOG
from common.config import Settings
from common.db import Database
from common.errors import install_error_handlers
from common.events import Envelope
from common.health import health_router
from common.migrations import upgrade
from common.ports import Ports

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def create_app(settings: Settings, ports: Ports) -> FastAPI:
    database = Database(settings.database_url_for("catalog"))

    async def on_video_result(envelope: Envelope) -> None:
        log.info("video result received", extra={"routing_key": envelope.routing_key})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await upgrade(MIGRATIONS, database.url)
        await ports.bus.consume(CATALOG.name, on_video_result, prefetch=10)
        try:
            yield
        finally:
            await database.dispose()

    app = FastAPI(title="Videoflix catalog", lifespan=lifespan)
    app.router.redirect_slashes = False
    install_error_handlers(app)
    app.include_router(
        health_router(
            {
                "database": database.ping,
                "bus": ports.bus.ping,
                "object_store": ports.store.ping,
            }
        )
    )
    return app
