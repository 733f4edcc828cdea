"""Stub upstreams that echo what reached them, a gateway wired to them, and token minting."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel

from common.config import Settings
from common.kv.memory import InMemoryKeyValueStore
from common.ports import Ports
from common.security.keys import KeyPair, generate_keypair
from common.security.tokens import TokenSigner
from gateway.app import create_app

ORIGIN = "http://127.0.0.1:5500"
OTHER_ORIGIN = "http://evil.example"
BIG_SIZE = 20 * 1024 * 1024
RANGE_BODY = bytes(range(256)) * 4  # 1024 bytes


@dataclass
class StubState:
    hang: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    stream_closed: asyncio.Event = field(default_factory=asyncio.Event)
    openapi_fetches: int = 0


class Message(BaseModel):
    text: str


class Activation(BaseModel):
    message: Message


class Segment(BaseModel):
    message: Message
    size: int


async def _echo(service: str, request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {
            "service": service,
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": [[k, v] for k, v in request.headers.items()],
            "cookies": dict(request.cookies),
            "body": body.decode("latin-1"),
        }
    )


async def _big() -> AsyncIterator[bytes]:
    chunk = b"v" * (1024 * 1024)
    for _ in range(BIG_SIZE // len(chunk)):
        yield chunk


def make_stub(service: str) -> FastAPI:
    """An upstream whose behaviour the test picks with an `X-Stub` request header."""
    app = FastAPI(title=f"stub {service}")
    state = StubState()
    app.state.stub = state

    @app.middleware("http")
    async def count_openapi(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path == "/openapi.json":
            state.openapi_fetches += 1
        return await call_next(request)

    if service == "identity":

        @app.get("/api/activate/{uidb64}/{token}/", response_model=Activation)
        async def activate(uidb64: str, token: str, request: Request) -> Response:
            return await _echo(service, request)

    else:

        @app.get("/api/video/{video_id}/{resolution}/index.m3u8", response_model=Segment)
        async def playlist(video_id: int, resolution: str, request: Request) -> Response:
            return await _echo(service, request)

    @app.get("/internal/stats", response_model=Message)
    async def internal() -> Response:
        return JSONResponse({"text": "internal"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.api_route(
        "/{path:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        include_in_schema=False,
    )
    async def anything(path: str, request: Request) -> Response:
        action = request.headers.get("x-stub", "echo")
        if action == "cookies":
            response = await _echo(service, request)
            response.headers.append("set-cookie", "access_token=a1; HttpOnly; Path=/; SameSite=Lax")
            response.headers.append(
                "set-cookie",
                "refresh_token=r1; expires=Thu, 01 Jan 2099 00:00:00 GMT; HttpOnly; Path=/",
            )
            response.headers.append("set-cookie", "csrftoken=c1; Path=/; SameSite=Lax")
            return response
        if action == "big":
            return StreamingResponse(_big(), media_type="video/MP2T")
        if action == "slow-stream":

            async def slow() -> AsyncIterator[bytes]:
                try:
                    yield b"first"
                    await state.release.wait()
                    yield b"second"
                finally:
                    state.stream_closed.set()

            return StreamingResponse(slow(), media_type="video/MP2T")
        if action == "range":
            start, _, end = request.headers.get("range", "").removeprefix("bytes=").partition("-")
            lo, hi = int(start), int(end)
            return Response(
                RANGE_BODY[lo : hi + 1],
                status_code=206,
                media_type="video/MP2T",
                headers={
                    "Content-Range": f"bytes {lo}-{hi}/{len(RANGE_BODY)}",
                    "Accept-Ranges": "bytes",
                    "X-Seen-Range": request.headers.get("range", ""),
                },
            )
        if action == "plain-500":
            return PlainTextResponse("Internal Server Error", status_code=500)
        if action == "json-404":
            return JSONResponse({"detail": "No such video."}, status_code=404)
        if action == "hop":
            response = await _echo(service, request)
            response.headers["keep-alive"] = "timeout=5"
            response.headers["x-upstream-secret-hop"] = "1"
            response.headers["connection"] = "x-upstream-secret-hop"
            response.headers["access-control-allow-origin"] = "*"
            return response
        if action == "hang":
            state.hang.set()
            await state.release.wait()
        return await _echo(service, request)

    return app


class FailingTransport(httpx.AsyncBaseTransport):
    """An upstream transport that fails in a given way."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise self.exc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serve(app: Any, *, lifespan: str = "off") -> AsyncIterator[str]:
    """Run `app` on a real loopback port in this event loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Tokens:
    keypair: KeyPair

    def issue(
        self,
        *,
        user_id: int = 7,
        admin: bool = False,
        lifetime: int = 3600,
        session_id: str | None = None,
        private_pem: str | None = None,
    ) -> str:
        signer = TokenSigner(private_pem or self.keypair.private_pem, lifetime)
        return signer.issue(
            user_id=user_id,
            email=f"user{user_id}@example.com",
            admin=admin,
            session_id=session_id or uuid.uuid4().hex,
        )

    def user(self, **kw: Any) -> str:
        return self.issue(**kw)

    def admin(self, **kw: Any) -> str:
        return self.issue(user_id=1, admin=True, **kw)


@pytest.fixture(scope="session")
def keypair() -> KeyPair:
    return generate_keypair()


@pytest.fixture
def tokens(keypair: KeyPair) -> Tokens:
    return Tokens(keypair)


@pytest.fixture
def kv() -> InMemoryKeyValueStore:
    return InMemoryKeyValueStore()


@pytest.fixture
def ports(kv: InMemoryKeyValueStore) -> Ports:
    return Ports(bus=None, kv=kv, store=None)  # type: ignore[arg-type]  # gateway uses only kv


@pytest.fixture
def settings(keypair: KeyPair) -> Settings:
    return Settings(
        jwt_public_key=keypair.public_pem,
        cors_origins=[ORIGIN, "http://localhost:5500"],
        rate_limit_login=3,
        rate_limit_register=3,
        rate_limit_password_reset=3,
        rate_limit_window_seconds=60,
        upstream_timeout_seconds=5,
        identity_url="http://identity.test",
        catalog_url="http://catalog.test",
    )


@pytest.fixture
def identity_stub() -> FastAPI:
    return make_stub("identity")


@pytest.fixture
def catalog_stub() -> FastAPI:
    return make_stub("catalog")


class GatewayClient(httpx.AsyncClient):
    """A client for the gateway under test; `app` is the gateway itself."""

    app: FastAPI

    async def raw(
        self, method: str, raw_path: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send a request whose target no HTTP client would send unnormalised."""
        path = raw_path.decode()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": raw_path,
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), *(headers or [])],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await self.app(scope, receive, send)
        start = messages[0]
        body = b"".join(m.get("body", b"") for m in messages[1:])
        return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


@pytest.fixture
def gateway_factory(
    settings: Settings, ports: Ports, identity_stub: FastAPI, catalog_stub: FastAPI
) -> Callable[..., contextlib.AbstractAsyncContextManager[GatewayClient]]:
    """Builds a gateway (lifespan running) and a client for it; keyword arguments override
    the settings, the upstream transports or the token verifier."""

    @contextlib.asynccontextmanager
    async def factory(
        *,
        upstreams: dict[str, httpx.AsyncBaseTransport] | None = None,
        token_verifier: Any = None,
        client_addr: tuple[str, int] = ("127.0.0.1", 50000),
        **overrides: Any,
    ) -> AsyncIterator[GatewayClient]:
        transports: dict[str, httpx.AsyncBaseTransport] = {
            "identity": httpx.ASGITransport(app=identity_stub),
            "catalog": httpx.ASGITransport(app=catalog_stub),
        }
        if upstreams is not None:
            transports = upstreams
        app = create_app(
            settings.model_copy(update=overrides),
            ports,
            upstreams=transports,
            token_verifier=token_verifier,
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=client_addr)
            async with GatewayClient(
                transport=transport, base_url="http://127.0.0.1:8000"
            ) as client:
                client.app = app
                yield client

    return factory


@pytest.fixture
async def client(gateway_factory: Any) -> AsyncIterator[GatewayClient]:
    async with gateway_factory() as c:
        yield c


def echoed_headers(response: httpx.Response) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        seen.setdefault(name, []).append(value)
    return seen


def cookie_header(**cookies: str) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_json_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("detail"), str), body
    return body
