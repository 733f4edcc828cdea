"""The in-process transport of the all-in-one wiring streams both ways."""

from __future__ import annotations

import asyncio
import tracemalloc

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from common.asgi_transport import StreamingASGITransport

CHUNK = 64 * 1024


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.produced = 0
    app.state.producer = None  # the task that runs the body

    @app.get("/big/{count}")
    async def big(count: int) -> StreamingResponse:
        async def body():  # type: ignore[no-untyped-def]
            app.state.producer = asyncio.current_task()
            for _ in range(count):
                app.state.produced += 1
                yield b"x" * CHUNK

        return StreamingResponse(body(), media_type="application/octet-stream")

    @app.post("/echo-size")
    async def echo_size(request: Request) -> JSONResponse:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return JSONResponse(
            {"size": size, "path": request.url.path, "q": request.url.query},
            headers={"set-cookie": "a=1"},
        )

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app


async def test_response_streams_in_constant_memory() -> None:
    transport = StreamingASGITransport(make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        tracemalloc.start()
        try:
            total = 0
            async with client.stream("GET", "/big/800") as response:  # 50 MiB
                assert response.status_code == 200
                async for chunk in response.aiter_raw():
                    total += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert total == 800 * CHUNK
    assert peak < 8 * 1024 * 1024


async def test_closing_early_stops_the_app() -> None:
    app = make_app()
    async with httpx.AsyncClient(
        transport=StreamingASGITransport(app), base_url="http://app"
    ) as client:
        async with client.stream("GET", "/big/100000") as response:
            async for _ in response.aiter_raw():
                break
        # closing returned only once the app's task was over: nothing can produce any more
        produced = app.state.produced
        assert app.state.producer is not None and app.state.producer.done()
    assert app.state.produced == produced < 20  # stopped, a few chunks ahead at most


async def test_request_body_path_query_and_headers_arrive() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"y" * CHUNK

    async with httpx.AsyncClient(
        transport=StreamingASGITransport(make_app()), base_url="http://app"
    ) as client:
        response = await client.post("/echo-size?x=1", content=chunks())
    assert response.json() == {"size": 10 * CHUNK, "path": "/echo-size", "q": "x=1"}
    assert response.headers["set-cookie"] == "a=1"


async def test_an_app_error_before_the_response_is_raised() -> None:
    async with httpx.AsyncClient(
        transport=StreamingASGITransport(make_app()), base_url="http://app"
    ) as client:
        try:
            await client.get("/boom")
        except RuntimeError as exc:
            assert "boom" in str(exc)
        else:
            raise AssertionError("expected the app's error")


async def test_an_app_error_mid_stream_reaches_a_slow_reader() -> None:
    """The app fills the queue, then fails: the reader still gets the chunks, then the error,
    instead of waiting for an end-of-stream marker that had no room in the queue."""

    async def failing_mid_stream(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(4):  # exactly the transport's backlog: the queue is now full
            await send({"type": "http.response.body", "body": b"z" * CHUNK, "more_body": True})
        raise RuntimeError("failed mid-stream")

    chunks: list[bytes] = []
    async with (
        httpx.AsyncClient(
            transport=StreamingASGITransport(failing_mid_stream), base_url="http://app"
        ) as client,
        client.stream("GET", "/") as response,
    ):
        assert response.status_code == 200
        await asyncio.sleep(0.2)  # a slow reader: the app has failed by now
        with pytest.raises(RuntimeError, match="failed mid-stream"):
            async with asyncio.timeout(5):
                async for chunk in response.aiter_raw():
                    chunks.append(chunk)
    assert b"".join(chunks) == b"z" * (4 * CHUNK)
