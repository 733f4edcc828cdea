"""Forwarding to an upstream app in this process (the all-in-one): the app is called with the
proxied request as its scope, and its answer is relayed message by message under the same
header rules as over HTTP (`gateway.headers`).

Through an HTTP client, each answer was parsed into an httpx response, queued chunk by chunk
between two tasks and rebuilt as a second streaming response: most of the all-in-one's CPU
per video segment (docs/benchmarks.md). Here a segment's body goes from the catalog's answer
to the server's socket as the very object the catalog made.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.asgi_transport import http_scope
from common.errors import error_response
from gateway.headers import json_error, needs_json_error, relayed_headers

log = logging.getLogger("gateway.proxy")  # the proxy's trail, whichever way it forwards


def upstream_scope(
    url: httpx.URL,
    method: str,
    headers: list[tuple[bytes, bytes]],
    *,
    body: bytes | None,
    streamed: bool,
) -> Scope:
    """The scope an upstream app sees for `method url`, as if it had come over HTTP: with the
    `host` of the URL, and the length of a body already read, or a streamed body's framing
    when its length is not known (the headers an HTTP client adds)."""
    names = {name.lower() for name, _ in headers}
    headers = [(b"host", url.netloc), *headers]
    if body is not None and b"content-length" not in names:
        headers.append((b"content-length", str(len(body)).encode()))
    elif streamed and b"content-length" not in names:
        headers.append((b"transfer-encoding", b"chunked"))
    return http_scope(url, method, headers)


class InProcessAnswer(Response):
    """A response that is the upstream app's answer. `body`, when the gateway already read
    the request body, is handed to the app; otherwise the app reads the client's own. The
    app runs in a task of its own, so that what it sets in context variables stays its own,
    as it did behind an HTTP client. A `Response` only to be returned where one is expected:
    its status and headers are the app's, known once it answers, so none are set here."""

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        *,
        body: bytes | None,
        request_id: str,
        upstream: str,
        failure_status: int = 502,
    ) -> None:
        # no Response.__init__: it would render a body and headers that are never sent
        self.background = None
        self.app = app
        self.scope = scope
        self.request_body = body
        self.request_id = request_id
        self.upstream = upstream
        self.failure_status = failure_status
        self.status_code = 0  # the app's, once it answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        replaced: int | None = None  # the status of an error whose body becomes JSON
        headers: list[tuple[bytes, bytes]] = []

        async def relay(message: Message) -> None:
            nonlocal started, replaced, headers
            kind = message["type"]
            if kind == "http.response.start":
                started, self.status_code = True, message["status"]
                headers = relayed_headers(message.get("headers", []), self.request_id)
                if needs_json_error(message["status"], headers):
                    replaced = message["status"]
                    return
                await send({**message, "headers": headers})
            elif kind == "http.response.body" and replaced is not None:
                if not message.get("more_body", False):
                    await json_error(replaced, headers)(scope, receive, send)
            else:
                await send(message)

        upstream_receive = (
            receive if self.request_body is None else _replaying(self.request_body, receive)
        )
        task = asyncio.ensure_future(self.app(self.scope, upstream_receive, relay))
        try:
            await task
        except Exception:
            if started:
                raise
            log.warning("%s failed before answering", self.upstream, exc_info=True)
            await error_response(self.failure_status)(scope, receive, send)
            return
        if not started:  # the app returned without answering
            log.warning("%s returned without answering", self.upstream)
            await error_response(self.failure_status)(scope, receive, send)
            return
        # the gateway's line in the request's trail, in its own context (as over HTTP)
        method, path = self.scope["method"], self.scope["path"]
        log.debug("%s %s: %s answered %d", method, path, self.upstream, self.status_code)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The request body already read, once; then the client's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
