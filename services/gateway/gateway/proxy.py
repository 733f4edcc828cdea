"""The streaming reverse proxy: one httpx client per upstream, bodies streamed both ways."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import quote

import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from common import tracing
from common.config import Settings
from common.errors import error_response
from common.security.principal import IDENTITY_HEADERS, Principal

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "host"}
)
# set here from what the gateway itself knows; a client-sent copy is never passed on
_REPLACED = frozenset(
    {
        "content-length",
        "expect",  # the gateway's own server already answered any 100-continue
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
        "x-request-id",
        "traceparent",  # the gateway's own trace context goes on (common.tracing)
        "tracestate",
        *IDENTITY_HEADERS,
    }
)
# the gateway's server adds its own
_RESPONSE_DROPPED = frozenset({"date", "server"})
# describe the upstream's body, not the JSON that replaces it
_BODY_HEADERS = frozenset({b"content-type", b"content-length", b"content-encoding"})


def _is_hop_by_hop(name: str, connection_listed: frozenset[str]) -> bool:
    return name in HOP_BY_HOP or name.startswith("proxy-") or name in connection_listed


def _connection_listed(value: str) -> frozenset[str]:
    return frozenset(t.strip().lower() for t in value.split(",") if t.strip())


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
    def __init__(self) -> None:
        self.clients: dict[str, httpx.AsyncClient] = {}  # filled by the app's lifespan

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
        content = body if body is not None else (request.stream() if has_body(request) else None)
        outgoing = httpx.Request(
            request.method,
            _upstream_url(client.base_url, request.scope),
            headers=_request_headers(request, principal, request_id, content is not None),
            content=content,
        )
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


def _request_headers(
    request: Request, principal: Principal | None, request_id: str, has_body: bool
) -> list[tuple[bytes, bytes]]:
    """Raw bytes throughout, so values that are not ASCII (cookies) pass unchanged."""
    listed = _connection_listed(request.headers.get("connection", ""))
    headers: list[tuple[bytes, bytes]] = []
    for raw_name, value in request.headers.raw:
        name = raw_name.decode("latin-1").lower()
        # some stacks read `X_Videoflix_User_Id` as `X-Videoflix-User-Id`
        if not _is_hop_by_hop(name, listed) and name.replace("_", "-") not in _REPLACED:
            headers.append((raw_name, value))
    extra: list[tuple[str, str]] = []
    if has_body and (length := request.headers.get("content-length")) is not None:
        extra.append(("content-length", length))
    if principal is not None:
        extra.extend(principal.headers().items())
    if request.client is not None:
        extra.append(("x-forwarded-for", request.client.host))
    extra.append(("x-forwarded-proto", request.url.scheme))
    if host := request.headers.get("host"):
        extra.append(("x-forwarded-host", host))
    extra.append(("x-request-id", request_id))
    extra.extend((k, v) for k, v in tracing.headers().items() if k in tracing.TRACE_HEADERS)
    headers.extend((n.encode(), v.encode()) for n, v in extra)
    return headers


async def _relay(answer: httpx.Response, request_id: str) -> Response:
    listed = _connection_listed(answer.headers.get("connection", ""))
    headers = [
        (name.lower(), value)
        for name, value in answer.headers.raw
        if not _is_hop_by_hop(name.lower().decode("latin-1"), listed)
        and name.lower().decode("latin-1") not in _RESPONSE_DROPPED
    ]
    if not any(name == b"x-request-id" for name, _ in headers):
        headers.append((b"x-request-id", request_id.encode()))
    if answer.status_code >= 400 and not _is_json(answer.headers):
        # the contract wants every error as JSON, whatever the upstream sent
        await answer.aclose()
        response = error_response(answer.status_code)
        kept = [(n, v) for n, v in headers if n not in _BODY_HEADERS]
        response.raw_headers = [*response.raw_headers, *kept]
        return response
    return UpstreamResponse(answer, headers)


def _is_json(headers: Mapping[str, str]) -> bool:
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")
