"""Wiring of the catalog service: database, outbox relay, the consumer of transcoder results,
the video, admin and thumbnail routes, health endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from catalog.cache import VideoListCache
from catalog.changes import VideoWatcher
from catalog.config import CatalogSettings
from catalog.consumer import VideoResultConsumer
from catalog.edge import edge_router
from catalog.results import TranscoderResults
from catalog.resumable import ResumableUploads
from catalog.retry import Retries
from catalog.router import admin_router, thumbnail_router, video_router
from catalog.service import VideoService
from catalog.studio import studio_router
from catalog.tus import tus_router
from catalog.uploads import Uploads
from common.bus.topology import CATALOG
from common.config import Settings
from common.db import Database
from common.errors import install_error_handlers
from common.health import health_router
from common.httpmetrics import instrument
from common.outbox import database_with_outbox
from common.periodic import every
from common.ports import Need, Ports

MIGRATIONS = Path(__file__).parent / "migrations"
PORTS: frozenset[Need] = frozenset({"bus", "kv", "store"})
RESULTS_PREFETCH = 10
log = logging.getLogger(__name__)


def create_app(
    settings: Settings, ports: Ports, *, catalog_settings: CatalogSettings | None = None
) -> FastAPI:
    config = catalog_settings or CatalogSettings()
    database = Database(settings.database_url_for("catalog"))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with database_with_outbox(
            database, MIGRATIONS, ports.bus, migrate=settings.migrate_on_start
        ) as relay:
            sessionmaker, store = database.sessionmaker, ports.store
            cache = VideoListCache(ports.kv, ttl_seconds=config.video_list_cache_seconds)
            notify = relay.notify
            uploads = Uploads(settings, config, sessionmaker, store, cache, notify)
            results = TranscoderResults(sessionmaker, store, cache, notify)
            app.state.settings = settings
            app.state.catalog_settings = config
            app.state.videos = VideoService(settings, sessionmaker, store, cache)
            app.state.uploads = uploads
            resumable = ResumableUploads(config, sessionmaker, store, uploads)
            app.state.resumable = resumable
            expiring = asyncio.create_task(
                every(
                    config.tus_cleanup_interval_seconds,
                    resumable.remove_expired,
                    what="remove expired resumable uploads",
                ),
                name="tus-expiry",
            )
            app.state.retries = Retries(settings, sessionmaker, store, notify)
            watcher = VideoWatcher(
                sessionmaker, settings.public_base_url, config.admin_events_poll_seconds
            )
            app.state.video_watcher = watcher
            try:
                await uploads.remove_stale_uploads()
            except Exception:  # a store hiccup must not keep the catalog down; retried next start
                log.exception("could not remove abandoned uploads")
            if not ports.bus.durable:
                await results.resume_processing()
            await ports.bus.consume(
                CATALOG.name, VideoResultConsumer(results), prefetch=RESULTS_PREFETCH
            )
            watching = asyncio.create_task(watcher.run(), name="video-watcher")
            try:
                yield
            finally:
                watching.cancel()
                expiring.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
                with contextlib.suppress(asyncio.CancelledError):
                    await expiring

    app = FastAPI(title="Videoflix catalog", lifespan=lifespan)
    app.router.redirect_slashes = False
    install_error_handlers(app)  # refusals included
    instrument(app, "catalog")
    app.include_router(admin_router)
    app.include_router(tus_router)
    app.include_router(studio_router)
    app.include_router(video_router)
    app.include_router(thumbnail_router)
    app.include_router(edge_router)  # asked by the gateway for the edge (deploy/edge)
    # a broker blip does not stop the catalog serving: the outbox keeps events until it is back
    app.include_router(
        health_router(
            {"database": database.ping, "object_store": ports.store.ping},
            reported={"bus": ports.bus.ping},
        )
    )
    return app
