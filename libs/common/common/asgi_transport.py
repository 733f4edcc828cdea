"""An httpx transport that calls an ASGI app in-process and streams its response.

httpx's own `ASGITransport` collects the whole response body before returning it, which
would put every video segment (and any large answer) in memory whole when the all-in-one
gateway forwards to catalog. This one hands the body over chunk by chunk through a small
bounded queue, so memory stays flat whatever the size, and closing the response stops the app.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

_BACKLOG = 4  # body chunks buffered between the app and the reader


class _Channel:
    """Body chunks from the app to the reader. Only chunks take one of the `_BACKLOG` slots,
    so the end-of-stream marker always fits, even when the app fails with the queue full."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._slots = asyncio.Semaphore(_BACKLOG)

    async def put(self, chunk: bytes) -> None:
        await self._slots.acquire()
        self._queue.put_nowait(chunk)

    def end(self) -> None:
        self._queue.put_nowait(None)

    async def get(self) -> bytes | None:
        chunk = await self._queue.get()
        if chunk is not None:
            self._slots.release()
        return chunk


class _Body(httpx.AsyncByteStream):
    def __init__(self, channel: _Channel, task: asyncio.Task[None]) -> None:
        self._channel = channel
        self._task = task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._channel.get()) is not None:
            yield chunk
        await self._task  # surfaces an error raised after the response started

    async def aclose(self) -> None:
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def http_scope(
    url: httpx.URL,
    method: str,
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] = ("127.0.0.1", 0),
) -> dict[str, Any]:
    """The ASGI scope of `method url` with `headers`, as an app behind HTTP would see it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "headers": [(k.lower(), v) for k, v in headers],
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        "client": client,
        "root_path": "",
    }


class StreamingASGITransport(httpx.AsyncBaseTransport):
    def __init__(self, app: ASGIApp, client: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.app = app
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        scope = http_scope(request.url, request.method, request.headers.raw, self.client)
        body_chunks = request.stream.__aiter__()
        body_done = False
        finished = asyncio.Event()
        started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        channel = _Channel()

        async def receive() -> Message:
            nonlocal body_done
            if body_done:
                await finished.wait()
                return {"type": "http.disconnect"}
            try:
                chunk = await body_chunks.__anext__()
            except StopAsyncIteration:
                body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set_result(message)
            elif message["type"] == "http.response.body":
                if body := message.get("body", b""):
                    await channel.put(body)
                if not message.get("more_body", False):
                    channel.end()

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise
            finally:
                finished.set()
                if not started.done():
                    started.set_exception(RuntimeError("the app sent no response"))
                channel.end()  # a second marker after a normal end is never read

        task = asyncio.create_task(run())
        try:
            start = await started
        except BaseException:
            with contextlib.suppress(BaseException):
                await task
            raise
        return httpx.Response(
            status_code=start["status"],
            headers=start.get("headers", []),
            stream=_Body(channel, task),
        )
