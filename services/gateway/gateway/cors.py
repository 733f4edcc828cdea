"""CORS as the outermost middleware.

Starlette's CORSMiddleware answers a refused preflight with a plain-text 400; the contract
wants every answer to be JSON and a 2xx preflight, so this is a small pure-ASGI one: exact
origin allow-list, credentials, request headers listed by name (never `*`), and the headers
added to every response of an allowed origin, errors and 500s included. The tus headers are
allowed and exposed too, so a tus client on an allowed origin can resume an upload.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS = "GET, HEAD, POST, PATCH, PUT, DELETE, OPTIONS"
_TUS_IN = "Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset, Upload-Checksum"
ALLOW_HEADERS = f"Accept, Authorization, Content-Type, Range, X-CSRFToken, X-Request-ID, {_TUS_IN}"
_TUS_OUT = (
    "Location, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, "
    "Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Videoflix-Video-Id"
)
EXPOSE_HEADERS = (
    f"Content-Length, Content-Range, Accept-Ranges, ETag, Retry-After, X-Request-ID, {_TUS_OUT}"
)
MAX_AGE = "600"


class CorsMiddleware:
    def __init__(self, app: ASGIApp, *, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin is not None and origin in self.origins
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin if allowed else None, headers)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                # an upstream's own CORS headers never leak through; ours are the only ones
                message["headers"] = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not k.lower().startswith(b"access-control-")
                ]
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed:
                    assert origin is not None
                    out["Access-Control-Allow-Origin"] = origin
                    out["Access-Control-Allow-Credentials"] = "true"
                    out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    def _preflight(origin: str | None, request_headers: Headers) -> JSONResponse:
        response = JSONResponse({"detail": "OK"}, headers={"Vary": "Origin"})
        if origin is not None:
            response.headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Credentials": "true",
                    "Access-Control-Allow-Methods": ALLOW_METHODS,
                    "Access-Control-Allow-Headers": ALLOW_HEADERS,
                    "Access-Control-Max-Age": MAX_AGE,
                }
            )
            if request_headers.get("access-control-request-private-network") == "true":
                response.headers["Access-Control-Allow-Private-Network"] = "true"
        return response
