"""The route table's fixed answer headers (`RouteSpec.headers`), on every answer of those routes.

A middleware rather than a step of the proxied pipeline, because some refusals are made before
that pipeline runs: the router's 405, and errors rendered by the exception handlers. A header
the answer already has (the upstream's) is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.routes import RouteSpec


class RouteHeaders:
    def __init__(self, app: ASGIApp, *, routes: Iterable[RouteSpec]) -> None:
        self.app = app
        self.rules: list[tuple[re.Pattern[str], tuple[tuple[str, str], ...]]] = [
            (compile_path(pattern)[0], spec.headers)
            for spec in routes
            if spec.headers
            for pattern in spec.patterns()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = self._headers_for(scope) if scope["type"] == "http" else ()
        if not headers:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in headers:
                    out.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers_for(self, scope: Scope) -> tuple[tuple[str, str], ...]:
        path = scope["path"]
        return next((headers for rule, headers in self.rules if rule.match(path)), ())
