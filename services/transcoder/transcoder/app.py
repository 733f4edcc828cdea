"""Wiring of the transcoder worker: consumes transcode jobs one at a time (prefetch 1).

The worker's own settings (FFmpeg paths, preset, time-out, ...) come from the environment
through `TranscoderSettings`; tests pass them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator

from fastapi import FastAPI

from common.bus.topology import TRANSCODER
from common.config import Settings
from common.errors import install_error_handlers
from common.health import health_router
from common.ports import Ports
from transcoder.config import TranscoderSettings
from transcoder.worker import Transcoder


def create_app(
    settings: Settings, ports: Ports, *, options: TranscoderSettings | None = None
) -> FastAPI:
    options = options or TranscoderSettings()
    worker = Transcoder(ports.store, ports.bus, options)

    async def ffmpeg_found() -> bool:
        return all(shutil.which(p) for p in (options.ffmpeg_path, options.ffprobe_path))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(worker.sweep_work_dirs)
        await ports.bus.consume(TRANSCODER.name, worker.handle, prefetch=1)
        yield

    app = FastAPI(title="Videoflix transcoder", lifespan=lifespan)
    app.state.transcoder = worker
    install_error_handlers(app)
    app.include_router(
        health_router(
            {"bus": ports.bus.ping, "object_store": ports.store.ping, "ffmpeg": ffmpeg_found}
        )
    )
    return app
