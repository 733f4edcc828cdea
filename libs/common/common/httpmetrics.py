"""HTTP metrics of the apps (`common.metrics` defines them): the ASGI middleware every app
installs, and the count of segment bytes as they are sent."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from prometheus_client import Counter
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common import metrics


class HttpMetrics:
    """ASGI middleware: `http_server_request_duration_seconds` for each HTTP request, by the
    template of the route that took it (`/api/video/{video_id}/`, never the raw path; empty
    when no route matched), so the label set stays bounded whatever clients send."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope["method"] if scope["method"] in metrics.KNOWN_METHODS else "_OTHER"
            route = getattr(scope.get("route"), "path", "")
            metrics.HTTP_SERVER_DURATION.labels(self.service, method, route, str(status)).observe(
                time.perf_counter() - started
            )


def instrument(app: Any, service: str) -> None:
    """Measure every HTTP request `app` (a FastAPI/Starlette app) answers, as `service`."""
    app.add_middleware(HttpMetrics, service=service)


def segment_sent(response: Response) -> Response:
    """Count the bytes of a segment answer as they are sent (a streamed body), or as the
    answer states them (a whole body); a 304 or a HEAD answer sends none."""
    if isinstance(response, StreamingResponse):
        response.body_iterator = _counting(response.body_iterator, metrics.SEGMENT_BYTES)
    else:
        metrics.SEGMENT_BYTES.inc(len(response.body))
    return response


async def _counting(chunks: AsyncIterable[Any], counter: Counter) -> AsyncIterator[Any]:
    async for chunk in chunks:
        counter.inc(len(chunk))
        yield chunk
