"""Build every service with one set of ports and serve them behind the gateway.

The only module that imports more than one service. The gateway reaches identity and
catalog in-process (their apps called directly) instead of over the network; the workers
(mailer, transcoder) run their consumers inside the same event loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

import catalog.app
import gateway.app
import identity.app
import mailer.app
import transcoder.app
from common import tracing
from common.config import Settings
from common.ports import Ports
from common.security.keys import signing_keypair
from common.security.tokens import TokenVerifier


def embedded_settings(settings: Settings) -> Settings:
    """Every service gets its own SQLite file under DATA_DIR and migrates at start-up."""
    data_dir = settings.data_dir.resolve()
    return settings.model_copy(
        update={"data_dir": data_dir, "database_url": "", "migrate_on_start": True}
    )


def build_app(settings: Settings, ports: Ports | None = None) -> FastAPI:
    settings = embedded_settings(settings)
    tracing.setup("allinone")  # before engines and apps are made; a no-op without OTLP
    ports = ports or Ports.from_settings(settings)
    keys = signing_keypair(settings)

    identity_app = identity.app.create_app(settings, ports, private_key_pem=keys.private_pem)
    catalog_app = catalog.app.create_app(settings, ports)
    for upstream_app in (identity_app, catalog_app):  # the gateway's does it itself
        tracing.instrument_app(upstream_app)
    workers = [mailer.app.create_app(settings, ports), transcoder.app.create_app(settings, ports)]
    app = gateway.app.create_app(
        settings,
        ports,
        upstream_apps={"identity": identity_app, "catalog": catalog_app},
        token_verifier=TokenVerifier(keys.public_pem),
    )
    services = [identity_app, catalog_app, *workers]
    gateway_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        await ports.start()
        try:
            async with contextlib.AsyncExitStack() as stack:
                for service in services:
                    await stack.enter_async_context(service.router.lifespan_context(service))
                await stack.enter_async_context(gateway_lifespan(app_))
                yield
        finally:
            await ports.close()

    app.router.lifespan_context = lifespan
    app.state.services = {
        "identity": identity_app,
        "catalog": catalog_app,
        "mailer": workers[0],
        "transcoder": workers[1],
    }
    app.state.ports = ports
    return app
