"""Wiring of the gateway: settings and ports in, a FastAPI app out."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp

from common import tracing
from common.asgi_transport import StreamingASGITransport
from common.config import Settings
from common.errors import install_error_handlers
from common.health import health_router
from common.httpmetrics import instrument
from common.ports import Need, Ports
from common.security.keys import verification_key
from common.security.tokens import TokenVerifier
from gateway.auth import Authenticator
from gateway.cors import CorsMiddleware
from gateway.edge import mount_edge
from gateway.handler import Gateway
from gateway.openapi import OpenApiAggregator, openapi_router
from gateway.proxy import Proxy, build_client
from gateway.ratelimit import RateLimiter
from gateway.route_headers import RouteHeaders
from gateway.routes import ROUTES, Upstream
from gateway.studio import mount_studio

VERSION = "1.0.0"
PORTS: frozenset[Need] = frozenset({"kv"})


def create_app(
    settings: Settings,
    ports: Ports,
    *,
    upstreams: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    upstream_apps: Mapping[str, ASGIApp] | None = None,
    token_verifier: TokenVerifier | None = None,
) -> FastAPI:
    """`upstreams` maps "identity"/"catalog" to a transport, `upstream_apps` to an app in
    this process (the all-in-one: proxied requests call it directly, the gateway's own calls
    go through a streaming ASGI transport); a missing one is reached over the network at its
    configured URL."""
    if token_verifier is None:
        token_verifier = TokenVerifier(verification_key(settings))
    apps = dict(upstream_apps or {})
    transports = {
        **(upstreams or {}),
        **{name: StreamingASGITransport(app) for name, app in apps.items()},
    }
    base_urls = {Upstream.IDENTITY: settings.identity_url, Upstream.CATALOG: settings.catalog_url}
    proxy = Proxy(apps)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for name, url in base_urls.items():
                client = build_client(url, settings, transports.get(name))
                stack.push_async_callback(client.aclose)
                proxy.clients[name] = client
            try:
                yield
            finally:
                proxy.clients.clear()

    app = FastAPI(
        title="Videoflix gateway",
        version=VERSION,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    instrument(app, "gateway")
    app.add_middleware(RouteHeaders, routes=ROUTES)
    app.add_middleware(CorsMiddleware, origins=settings.cors_origins)  # outermost

    async def upstream_ready(name: str) -> bool:
        """Ready when the upstream says it can serve (its `/readyz`), not merely that it runs."""
        response = await proxy.clients[name].get("/readyz")
        return response.status_code == 200

    app.include_router(
        health_router(
            {
                "kv": ports.kv.ping,
                "identity": lambda: upstream_ready(Upstream.IDENTITY),
                "catalog": lambda: upstream_ready(Upstream.CATALOG),
            }
        )
    )
    app.include_router(openapi_router(OpenApiAggregator(proxy, version=VERSION)))

    authenticator = Authenticator(token_verifier, ports.kv)
    mount_edge(app, authenticator, proxy)  # the edge's auth_request (deploy/edge)
    gateway = Gateway(
        authenticator=authenticator,
        limiter=RateLimiter.from_settings(ports.kv, settings),
        proxy=proxy,
    )
    for spec in ROUTES:
        for pattern in spec.patterns():
            app.add_route(
                pattern,
                gateway.endpoint(spec),
                methods=list(spec.methods),
                name=spec.name if pattern == spec.path else f"{spec.name}_twin",
                include_in_schema=False,
            )
    mount_studio(app, settings.public_base_url)  # the admin panel at /studio/, not under /api/
    # every answer names its X-Request-ID; the id and trace context go on to the upstreams
    return tracing.instrument_app(app)
