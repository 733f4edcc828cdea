"""The command line every service shares: `python -m <service> serve|migrate`.

`serve` builds the ports from the environment, then the service's app, and runs it with
uvicorn as `common.httpserver` configures it; `migrate` applies the service's Alembic
migrations to its DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from common import tracing
from common.config import Settings
from common.httpserver import server_options
from common.logging import configure_logging
from common.migrations import upgrade
from common.ports import Ports

AppFactory = Callable[[Settings, Ports], FastAPI]


def owning_ports(app: FastAPI, ports: Ports) -> FastAPI:
    """Wrap the app's lifespan so the ports start before it and close after it."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        await ports.start()
        try:
            async with inner(app_):
                yield
        finally:
            await ports.close()

    app.router.lifespan_context = lifespan
    return app


def main(
    name: str,
    create_app: AppFactory,
    *,
    migrations: Path | None = None,
    default_port: int = 8000,
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {name}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help=f"run the {name} service")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=None)
    if migrations is not None:
        sub.add_parser("migrate", help="apply database migrations and exit")
    args = parser.parse_args()

    settings = Settings()
    configure_logging(name, level=settings.log_level, json=settings.log_json)
    if args.command == "migrate":
        assert migrations is not None
        if not settings.database_url:
            parser.error("DATABASE_URL is not set")
        asyncio.run(upgrade(migrations, settings.database_url))
        return
    port = args.port or (settings.port if name == "gateway" else default_port)
    tracing.setup(name)  # before engines and apps are made; a no-op without an OTLP endpoint
    ports = Ports.from_settings(settings)
    app = owning_ports(create_app(settings, ports), ports)
    app = tracing.instrument_app(app)  # request id and trace context in, X-Request-ID out
    uvicorn.run(app, host=args.host, port=port, **server_options(settings))
