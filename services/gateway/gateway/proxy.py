"""The streaming reverse proxy: one httpx client per upstream, bodies streamed both ways."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import quote

import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from common import tracing
from common.config import Settings
from common.errors import error_response
from common.security.principal import Principal
from gateway.headers import json_error, needs_json_error, relayed_headers, request_headers
from gateway.inprocess import InProcessAnswer, upstream_scope

log = logging.getLogger(__name__)


def build_client(
    base_url: str, settings: Settings, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    seconds = settings.upstream_timeout_seconds
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)),
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        follow_redirects=False,
        trust_env=False,  # no HTTP(S)_PROXY detours on the way to an internal service
        # upstream Set-Cookie headers belong to the browser, never to this shared client
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


class UpstreamResponse(StreamingResponse):
    """Relays an upstream response as it arrives and always closes it, also when the client
    goes away mid-stream (when Starlette skips background tasks)."""

    def __init__(self, upstream: httpx.Response, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(upstream.aiter_raw(), status_code=upstream.status_code)
        self.raw_headers = headers
        self.upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.upstream.aclose()


class Proxy:
    def __init__(self, apps: Mapping[str, ASGIApp] | None = None) -> None:
        self.clients: dict[str, httpx.AsyncClient] = {}  # filled by the app's lifespan
        # upstreams in this process (the all-in-one): requests go to their app directly
        self.apps: dict[str, ASGIApp] = dict(apps or {})

    async def forward(
        self,
        request: Request,
        upstream: str,
        principal: Principal | None,
        *,
        body: bytes | None = None,
    ) -> Response:
        """Stream `request` to `upstream`; `body`, when given, is its body already read."""
        client = self.clients[upstream]
        # the request context (common.tracing) made or kept it; without one, made here
        request_id = (
            tracing.current_request_id()
            or tracing.sane_request_id(request.headers.get("x-request-id"))
            or tracing.new_request_id()
        )
        url = _upstream_url(client.base_url, request.scope)
        sends_body = body is not None or has_body(request)
        headers = request_headers(request, principal, request_id, sends_body)
        if (app := self.apps.get(upstream)) is not None:
            streamed = body is None and sends_body
            scope = upstream_scope(url, request.method, headers, body=body, streamed=streamed)
            return InProcessAnswer(app, scope, body=body, request_id=request_id, upstream=upstream)
        content = body if body is not None else (request.stream() if sends_body else None)
        outgoing = httpx.Request(request.method, url, headers=headers, content=content)
        try:
            answer = await client.send(outgoing, stream=True)
        except ClientDisconnect:
            return error_response(400, "The request body was not received completely.")
        except Exception as exc:
            return error_response(failure_status(upstream, exc))
        # the gateway's line in the request's trail (uvicorn's access log says as much, later)
        log.debug(
            "%s %s: %s answered %d", request.method, request.url.path, upstream, answer.status_code
        )
        return await _relay(answer, request_id)


def failure_status(upstream: str, exc: Exception) -> int:
    """The gateway's answer when a call to `upstream` raised `exc` (logged here): 503 when
    it cannot be reached, 504 when it is too slow, 502 for anything else (a broken answer)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        log.warning("%s unreachable: %r", upstream, exc)
        return 503
    if isinstance(exc, httpx.TimeoutException):
        log.warning("%s timed out: %r", upstream, exc)
        return 504
    log.warning("%s answered badly: %r", upstream, exc, exc_info=True)
    return 502


def has_body(request: Request) -> bool:
    return "content-length" in request.headers or "transfer-encoding" in request.headers


def _upstream_url(base: httpx.URL, scope: Scope) -> httpx.URL:
    raw_path: bytes = scope.get("raw_path") or b""
    if not raw_path or not raw_path.isascii():
        raw_path = quote(scope["path"]).encode()
    query: bytes = scope.get("query_string", b"")
    if not query.isascii():
        query = quote(query, safe="=&%+;/:@,").encode()
    full = base.raw_path.rstrip(b"/") + raw_path + (b"?" + query if query else b"")
    return base.copy_with(raw_path=full)


async def _relay(answer: httpx.Response, request_id: str) -> Response:
    headers = relayed_headers(answer.headers.raw, request_id)
    if needs_json_error(answer.status_code, headers):
        await answer.aclose()
        return json_error(answer.status_code, headers)
    return UpstreamResponse(answer, headers)
