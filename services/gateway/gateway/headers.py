"""What crosses the gateway: which request headers go on to an upstream (and which the
gateway sets itself), and which of an upstream's answer headers come back. One set of rules
for the HTTP proxy (`gateway.proxy`) and the in-process one (`gateway.inprocess`)."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response

from common import tracing
from common.errors import error_response
from common.security.principal import IDENTITY_HEADERS, Principal

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


def request_headers(
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


def relayed_headers(
    raw: Iterable[tuple[bytes, bytes]], request_id: str
) -> list[tuple[bytes, bytes]]:
    """An upstream answer's headers as the gateway passes them on: lower-case names, no
    hop-by-hop ones, no Date/Server (the gateway's server adds its own), an X-Request-ID."""
    raw = list(raw)
    connection = b", ".join(v for n, v in raw if n.lower() == b"connection")
    listed = _connection_listed(connection.decode("latin-1"))
    headers = [
        (name.lower(), value)
        for name, value in raw
        if not _is_hop_by_hop(name.lower().decode("latin-1"), listed)
        and name.lower().decode("latin-1") not in _RESPONSE_DROPPED
    ]
    if not any(name == b"x-request-id" for name, _ in headers):
        headers.append((b"x-request-id", request_id.encode()))
    return headers


def needs_json_error(status: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """The contract wants every error as JSON, whatever the upstream sent."""
    if status < 400:
        return False
    media = next((v for n, v in headers if n == b"content-type"), b"").decode("latin-1")
    media = media.split(";")[0].strip().lower()
    return not (media == "application/json" or media.endswith("+json"))


def json_error(status: int, headers: list[tuple[bytes, bytes]]) -> Response:
    """The JSON error in place of an upstream's other body, with the upstream's other headers."""
    response = error_response(status)
    kept = [(n, v) for n, v in headers if n not in _BODY_HEADERS]
    response.raw_headers = [*response.raw_headers, *kept]
    return response
