"""Request heads are capped in size, count and time, on a real uvicorn server on loopback
configured the way every service and the all-in-one run it (`common.httpserver`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI, Request

from common.config import Settings
from common.httpserver import server_options
from tests.support.http import serve

LIMITS = {"http_max_header_bytes": 8192, "http_max_headers": 20, "http_header_timeout_seconds": 1}


def make_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/echo", methods=["GET", "POST"])
    async def echo(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {"headers": len(request.headers), "body": len(body)}

    return app


@contextlib.asynccontextmanager
async def serving(**settings: Any) -> AsyncIterator[int]:
    options = server_options(Settings(**{**LIMITS, **settings}))
    async with serve(make_app(), **options) as url:
        port = urlsplit(url).port
        assert port is not None
        yield port


async def exchange(port: int, *parts: bytes, pause: float = 0.0) -> tuple[bytes, float]:
    """Send the parts (pausing between them), then read until the server closes; the answer
    and the seconds from connecting to the close."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with contextlib.suppress(ConnectionError):
            for part in parts:
                writer.write(part)
                await writer.drain()
                if pause:
                    await asyncio.sleep(pause)
        answer = b""
        with contextlib.suppress(ConnectionError):
            async with asyncio.timeout(10):
                while chunk := await reader.read(65536):
                    answer += chunk
        return answer, time.monotonic() - started
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def refused(answer: bytes) -> bool:
    """431 with a JSON body, or a connection closed without an answer."""
    if not answer:
        return True
    head, _, body = answer.partition(b"\r\n\r\n")
    return (
        head.startswith(b"HTTP/1.1 431 ")
        and b"content-type: application/json" in head.lower()
        and b'"detail"' in body
    )


def request(*headers: bytes, target: bytes = b"/echo", body: bytes = b"") -> bytes:
    lines = [b"POST " + target + b" HTTP/1.1", b"Host: a", b"Connection: close", *headers]
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def test_a_head_within_the_limits_is_answered() -> None:
    async with serving() as port:
        headers = [b"X-H%d: %s" % (i, b"v" * 300) for i in range(15)]
        answer, _ = await exchange(port, request(*headers, body=b"hello"))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert answer.endswith(b'{"headers":18,"body":5}')


async def test_an_oversized_header_is_refused() -> None:
    async with serving() as port:
        answer, _ = await exchange(port, request(b"X-Big: " + b"v" * 9000))
    assert refused(answer), answer[:300]


async def test_an_oversized_request_target_is_refused() -> None:
    async with serving() as port:
        answer, _ = await exchange(port, request(target=b"/echo?q=" + b"a" * 9000))
    assert refused(answer), answer[:300]


async def test_too_many_headers_are_refused() -> None:
    async with serving() as port:
        answer, _ = await exchange(port, request(*[b"X-H%d: v" % i for i in range(40)]))
    assert refused(answer), answer[:300]


async def test_an_endless_head_is_cut_off_before_it_ends() -> None:
    """The head never ends: the server answers as soon as the cap is passed, without holding
    the rest (4 MiB are offered)."""
    line = b"X-Filler: " + b"v" * 1000 + b"\r\n"
    parts = [b"GET /echo HTTP/1.1\r\nHost: a\r\n", *[line * 64] * 64]
    async with serving() as port:
        answer, _ = await exchange(port, *parts)
    assert refused(answer), answer[:300]


@pytest.mark.parametrize("first", [b"", b"G"], ids=["idle", "one-byte"])
async def test_a_silent_client_is_disconnected_after_the_header_timeout(first: bytes) -> None:
    async with serving() as port:
        answer, elapsed = await exchange(port, first)
    assert answer == b""
    assert 0.8 <= elapsed < 4


async def test_a_head_sent_a_byte_at_a_time_is_disconnected_after_the_timeout() -> None:
    head = request(b"X-Slow: " + b"v" * 60)
    async with serving() as port:
        answer, elapsed = await exchange(
            port, *[head[i : i + 1] for i in range(len(head))], pause=0.2
        )
    assert answer == b""  # the head was never complete: no answer, a closed connection
    assert elapsed < 4


async def test_a_slow_body_after_a_complete_head_is_not_cut() -> None:
    async with serving() as port:
        head = b"POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 4\r\n\r\n"
        answer, elapsed = await exchange(port, head, b"a", b"b", b"c", b"d", pause=0.5)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert answer.endswith(b'"body":4}') and elapsed >= 1.5


async def test_the_timeout_restarts_for_each_request_on_a_kept_alive_connection() -> None:
    keep = b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n"
    last = b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    async with serving() as port:
        answer, elapsed = await exchange(port, keep, keep, keep, last, pause=0.7)
    assert answer.count(b"HTTP/1.1 200 ") == 4, answer
    assert elapsed >= 2
