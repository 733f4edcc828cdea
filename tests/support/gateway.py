"""The gateway under test and what stands around it: stub upstreams that echo what reached
them (the test picks their behaviour with an `X-Stub` header), failing transports, token
minting and the headers that carry a token. The fixtures that wire them are in
tests/gateway/conftest.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel

from common.security.keys import KeyPair
from common.security.tokens import TokenSigner

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
        csrf: str | None = None,
    ) -> str:
        """`csrf`: the csrftoken the token is bound to (identity binds every one it issues)."""
        signer = TokenSigner(private_pem or self.keypair.private_pem, lifetime)
        return signer.issue(
            user_id=user_id,
            email=f"user{user_id}@example.com",
            admin=admin,
            session_id=session_id or uuid.uuid4().hex,
            csrf=csrf,
        )

    def user(self, **kw: Any) -> str:
        return self.issue(**kw)

    def admin(self, **kw: Any) -> str:
        return self.issue(user_id=1, admin=True, **kw)


class GatewayClient(httpx.AsyncClient):
    """A client for the gateway under test; `app` is the gateway itself (for `call_asgi`)."""

    app: FastAPI


def echoed_headers(response: httpx.Response) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        seen.setdefault(name, []).append(value)
    return seen


def cookie_header(**cookies: str) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
