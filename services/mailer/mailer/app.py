"""Wiring only: the handler on the mailer queue, plus health endpoints. No other routes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI

from common.bus.topology import MAILER
from common.config import Settings
from common.errors import install_error_handlers
from common.health import Check, health_router
from common.httpmetrics import instrument
from common.ports import Need, Ports
from mailer.consumer import MailConsumer
from mailer.delivery import Sender, SmtpSender, create_sender

PREFETCH = 5
PORTS: frozenset[Need] = frozenset({"bus", "kv"})


def create_app(settings: Settings, ports: Ports, *, sender: Sender | None = None) -> FastAPI:
    """The composition root starts (and closes) the ports; the lifespan only subscribes."""
    sender = sender or create_sender(settings)
    consumer = MailConsumer(settings, ports.kv, sender)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await ports.bus.consume(MAILER.name, consumer.handle, prefetch=PREFETCH)
        yield  # consumers stop when the bus closes

    app = FastAPI(
        title="Videoflix mailer",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    instrument(app, "mailer")
    # SMTP is reported, not required: a relay that is down now gets the mail later (retries)
    reported: dict[str, Check] = {}
    if isinstance(sender, SmtpSender):
        reported["smtp"] = throttled(sender.ping)
    app.include_router(
        health_router({"bus": ports.bus.ping, "kv": ports.kv.ping}, reported=reported)
    )
    app.state.consumer = consumer
    return app


def throttled(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> Check:
    """Trust a success for `seconds`, so readiness probes don't open an SMTP session every
    few seconds; a failure is checked again on the next probe."""
    ok_until = -float("inf")

    async def run() -> bool:
        nonlocal ok_until
        if time.monotonic() < ok_until:
            return True
        ok = await check()
        if ok:
            ok_until = time.monotonic() + seconds
        return ok

    return run
