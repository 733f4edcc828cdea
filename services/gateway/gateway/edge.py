"""`GET /internal/edge/authorize`: the edge's (deploy/edge, nginx `auth_request`) question
whether the caller may play a rendition playlist or segment, and from which objects.

The caller is authenticated exactly like any `Auth.USER` route (`gateway.auth`: signature,
expiry, revocation); the catalog then says whether the video is playable and which rendition
answers the requested resolution (its fallback rule, in one place). The answer is 204 with
`X-Edge-Object-Prefix`, and the CORS headers of the request's origin (the outer
`CorsMiddleware`, as on every gateway answer), which the edge copies onto the object it
serves; otherwise the gateway's own 401/404/5xx JSON, after which the edge hands the original
request to the gateway. The edge keeps a 2xx for `EDGE_AUTH_SECONDS`: the bound on how long a
logout or password reset takes to reach it.

Served under `/internal/`, which the edge never passes on from outside; the query names the
video and resolution (`?video_id=7&resolution=720p`), no body.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from common import tracing
from common.errors import ApiError
from gateway.auth import Authenticator
from gateway.proxy import Proxy, failure_status
from gateway.routes import Upstream

log = logging.getLogger(__name__)

AUTHORIZE_PATH = "/internal/edge/authorize"
PREFIX_HEADER = "X-Edge-Object-Prefix"


class EdgeAuthorizer:
    def __init__(self, authenticator: Authenticator, proxy: Proxy) -> None:
        self.authenticator = authenticator
        self.proxy = proxy

    async def authorize(self, request: Request) -> Response:
        caller = await self.authenticator.authenticate(request)
        video_id = request.query_params.get("video_id", "")
        resolution = request.query_params.get("resolution", "")
        if not video_id or not resolution:
            raise ApiError(404)
        path = f"/internal/edge/{quote(video_id, safe='')}/{quote(resolution, safe='')}"
        headers = {**caller.principal.headers(), **tracing.headers()}
        try:
            answer = await self.proxy.clients[Upstream.CATALOG].get(path, headers=headers)
        except httpx.HTTPError as exc:
            raise ApiError(failure_status(Upstream.CATALOG, exc)) from exc
        if answer.status_code == 404:
            raise ApiError(404)
        prefix = _prefix(answer)
        if prefix is None:
            log.warning("catalog answered the edge with %d", answer.status_code)
            raise ApiError(502)
        return Response(status_code=204, headers={PREFIX_HEADER: prefix})


def _prefix(answer: httpx.Response) -> str | None:
    if answer.status_code != 200:
        return None
    try:
        prefix = answer.json().get("prefix")
    except ValueError:
        return None
    return prefix if isinstance(prefix, str) and prefix and prefix.isascii() else None


def mount_edge(app: FastAPI, authenticator: Authenticator, proxy: Proxy) -> None:
    authorizer = EdgeAuthorizer(authenticator, proxy)
    app.add_route(
        AUTHORIZE_PATH, authorizer.authorize, methods=["GET", "HEAD"], include_in_schema=False
    )
