"""HTTP helpers of the tests: the contract's error shape, raw ASGI requests, multipart bodies
written by hand, and apps served on a real loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx
import uvicorn

from tests.support.waiting import eventually


def assert_json_error(
    response: httpx.Response, status: int, *, detail: bool = False
) -> dict[str, Any]:
    """The contract's error shape: JSON, `{"detail": str}` or `{field: [str, ...]}`; with
    `detail=True` only the first (what the gateway itself answers). Returns the body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and body, body
    if detail:
        assert isinstance(body.get("detail"), str), body
    for key, value in body.items():
        if key == "detail":
            assert isinstance(value, str) and value, body
        else:
            assert isinstance(value, list) and value, body
            assert all(isinstance(m, str) and m for m in value), body
    return body


async def call_asgi(
    app: Any,
    raw_path: bytes,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body_chunks: list[bytes] | None = None,
    disconnect_after_body: bool = False,
    client: tuple[str, int] = ("127.0.0.1", 50000),
    server: tuple[str, int] = ("127.0.0.1", 8000),
) -> tuple[int, dict[str, str], bytes]:
    """One request straight through ASGI, with the raw path exactly as given (no client
    normalises `..` or decodes anything), the way uvicorn hands it over. The body arrives in
    `body_chunks`; with `disconnect_after_body` the client goes away instead of finishing it.
    Returns the status, the (lower-cased) headers and the body."""
    path = unquote_to_bytes(raw_path).decode("utf-8", errors="surrogateescape")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": client,
        "server": server,
        "state": {},
    }
    chunks = list(body_chunks or [])
    messages: list[dict[str, Any]] = []
    body_sent = False
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": True}
        if disconnect_after_body:
            return {"type": "http.disconnect"}
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # like a server: nothing more until the client goes away
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, body


def multipart_body(
    parts: list[tuple[str, str | None, str | None, bytes]], boundary: str | None = None
) -> tuple[bytes, str]:
    """A multipart/form-data body with its parts in exactly this order:
    (name, filename, content type, data). Returns the body and its content type."""
    boundary = boundary or secrets.token_hex(12)
    out = bytearray()
    for name, filename, content_type, data in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serve(app: Any, *, lifespan: str = "off", **options: Any) -> AsyncIterator[str]:
    """Run `app` on a real loopback port in this event loop; yields its base URL. `options`
    go to `uvicorn.Config` (e.g. `common.httpserver.server_options`); leaving the block stops
    the server the way SIGTERM does and waits until it has."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan=lifespan, **{**options, "log_level": "warning"}
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        if task.done():
            task.result()  # raises why it stopped
            raise AssertionError(f"uvicorn stopped before it started on port {port}")
        return server.started

    await eventually(started, failure=f"uvicorn did not start on port {port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
