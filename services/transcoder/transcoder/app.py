"""Wiring of the transcoder worker: consumes transcode jobs one at a time (prefetch 1).

The worker's own settings (FFmpeg paths, preset, time-out, ...) come from the environment
through `TranscoderSettings`; tests pass them in. Which FFmpeg and prober are used is decided
once, here (`tools.resolve_tools`), and logged at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from common.bus.topology import TRANSCODER
from common.config import Settings
from common.errors import install_error_handlers
from common.health import health_router
from common.httpmetrics import instrument
from common.ports import Need, Ports
from transcoder.config import TranscoderSettings
from transcoder.consumer import Transcoder
from transcoder.tools import Tools, log_tools, resolve_tools

PORTS: frozenset[Need] = frozenset({"bus", "store"})


def create_app(
    settings: Settings,
    ports: Ports,
    *,
    options: TranscoderSettings | None = None,
    tools: Tools | None = None,
) -> FastAPI:
    options = options or TranscoderSettings()
    tools = tools or resolve_tools(options)
    worker = Transcoder(ports.store, ports.bus, options, tools=tools)

    async def ffmpeg_found() -> bool:
        return await asyncio.to_thread(tools.ready)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log_tools(tools)
        await asyncio.to_thread(worker.sweep_work_dirs)
        await ports.bus.consume(TRANSCODER.name, worker.handle, prefetch=1)
        yield

    app = FastAPI(title="Videoflix transcoder", lifespan=lifespan)
    app.state.transcoder = worker
    app.state.tools = tools
    install_error_handlers(app)
    instrument(app, "transcoder")
    app.include_router(
        health_router(
            {"bus": ports.bus.ping, "object_store": ports.store.ping, "ffmpeg": ffmpeg_found}
        )
    )
    return app
