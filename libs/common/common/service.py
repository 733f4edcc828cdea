"""The command line every service shares: `python -m <service> serve|migrate`.

`serve` builds the ports the service declared from the environment, then the service's app,
and runs it with uvicorn as `common.httpserver` configures it; `migrate` creates the service's
database when it may and applies its Alembic migrations. Both wait, up to
STARTUP_TIMEOUT_SECONDS, for backing services that do not answer yet (`common.startup`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from common import tracing
from common.config import Settings
from common.db import connect_once, is_sqlite
from common.heap import freeze_after_startup
from common.httpserver import server_options
from common.logging import configure_logging
from common.metrics import serve_metrics
from common.migrations import create_database_if_missing, upgrade
from common.ports import ALL_PORTS, Need, Ports
from common.startup import until_up, where

AppFactory = Callable[[Settings, Ports], FastAPI]


def owning_ports(app: FastAPI, ports: Ports, *, database_url: str = "") -> FastAPI:
    """Wrap the app's lifespan so the ports start before it and close after it; with a
    `database_url`, the database is waited for first."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        started = time.monotonic()
        if database_url and not is_sqlite(database_url):
            await until_up(
                f"the database at {where(database_url)}",
                lambda: connect_once(database_url),
                timeout=ports.startup_timeout,
            )
        await ports.start(timeout=max(ports.startup_timeout - (time.monotonic() - started), 0))
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
    ports: Iterable[Need] = ALL_PORTS,
) -> None:
    """`migrations`: the service has a database; `ports`: the ports it uses (only those are
    built and connected)."""
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
        asyncio.run(migrate(migrations, settings.database_url, settings.startup_timeout_seconds))
        return
    port = args.port or (settings.port if name == "gateway" else default_port)
    tracing.setup(name)  # before engines and apps are made; a no-op without an OTLP endpoint
    bundle = Ports.from_settings(settings, ports)
    database_url = settings.database_url_for(name) if migrations is not None else ""
    app = owning_ports(create_app(settings, bundle), bundle, database_url=database_url)
    app = freeze_after_startup(app)  # no collector walk over the whole app under load
    app = tracing.instrument_app(app)  # request id and trace context in, X-Request-ID out
    serve_metrics(settings.metrics_port, args.host, allinone=False)  # its own listener
    uvicorn.run(app, host=args.host, port=port, **server_options(settings))


async def migrate(migrations: Path, url: str, timeout: float) -> None:
    """Wait for the database server, create the database if missing, migrate it."""
    await until_up(
        f"the database at {where(url)}", lambda: create_database_if_missing(url), timeout=timeout
    )
    await upgrade(migrations, url)
