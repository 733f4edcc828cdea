"""A shutdown does not wait for a response that never ends (an admin's event stream, a stalled
upload): uvicorn configured the way every service and the all-in-one run it
(`common.httpserver.server_options`) cancels it after SHUTDOWN_GRACE_SECONDS."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from common.config import Settings
from common.httpserver import server_options
from tests.support.http import serve

GRACE = 1


def endless_app() -> FastAPI:
    app = FastAPI()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def ticks() -> AsyncIterator[bytes]:
            while True:
                yield b"tick\n"
                await asyncio.sleep(0.2)

        return StreamingResponse(ticks(), media_type="text/plain")

    return app


def test_options_carry_the_grace() -> None:
    assert server_options(Settings())["timeout_graceful_shutdown"] == 10
    assert server_options(Settings(shutdown_grace_seconds=3))["timeout_graceful_shutdown"] == 3


async def test_shutdown_cancels_an_endless_response_after_the_grace() -> None:
    options = server_options(Settings(shutdown_grace_seconds=GRACE))
    writer: asyncio.StreamWriter | None = None
    try:
        # without the grace uvicorn waits for the stream to end, i.e. forever: this bound fails
        async with asyncio.timeout(GRACE + 10):
            async with serve(endless_app(), **options) as url:
                address = urlsplit(url)
                reader, writer = await asyncio.open_connection(address.hostname, address.port)
                writer.write(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200 ")
                assert b"tick" in await reader.readuntil(b"tick\n")
            # the server has stopped with the stream still open: the client reads to its end
            with contextlib.suppress(ConnectionError):
                while await reader.read(65536):
                    pass
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
