"""Wiring of the identity service: database, outbox relay, token signer, routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from common.config import Settings
from common.db import Database
from common.errors import install_error_handlers
from common.health import health_router
from common.httpmetrics import instrument
from common.outbox import database_with_outbox
from common.periodic import every
from common.ports import Need, Ports
from common.security.keys import signing_keypair
from common.security.sealing import mail_link_sealer
from common.security.tokens import TokenSigner
from identity.admin import admin_router
from identity.router import router
from identity.service import AccountService
from identity.users import UserAdmin

MIGRATIONS = Path(__file__).parent / "migrations"
PORTS: frozenset[Need] = frozenset({"bus", "kv"})  # the bus for the outbox relay
log = logging.getLogger(__name__)
SESSION_PRUNE_SECONDS = 3600.0
"""How often expired login sessions and their spent refresh tokens are removed."""


def create_app(settings: Settings, ports: Ports, *, private_key_pem: str | None = None) -> FastAPI:
    database = Database(settings.database_url_for("identity"))
    signer = TokenSigner(
        private_key_pem or signing_keypair(settings).private_pem,
        settings.access_token_minutes * 60,
    )
    link_sealer = mail_link_sealer(settings, create=True)  # before the mailer reads it

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with database_with_outbox(
            database, MIGRATIONS, ports.bus, migrate=settings.migrate_on_start
        ) as relay:
            accounts = AccountService(
                settings,
                database.sessionmaker,
                ports.kv,
                signer,
                on_outbox_commit=relay.notify,
                link_sealer=link_sealer,
            )
            app.state.settings = settings
            app.state.accounts = accounts
            app.state.user_admin = UserAdmin(accounts)
            await accounts.ensure_admin(settings.admin_email, settings.admin_password)
            if settings.uses_default_admin_password and not settings.is_development:
                log.warning(
                    "THE ADMIN ACCOUNT %s USES THE DEFAULT PASSWORD: set ADMIN_PASSWORD",
                    settings.admin_email,
                )
            pruning = asyncio.create_task(
                every(SESSION_PRUNE_SECONDS, accounts.prune_sessions, what="prune sessions"),
                name="session-pruning",
            )
            try:
                yield
            finally:
                pruning.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pruning
                await accounts.deferred.drain()  # before the database closes

    app = FastAPI(title="Videoflix identity", lifespan=lifespan)
    app.router.redirect_slashes = False
    install_error_handlers(app)
    instrument(app, "identity")
    app.include_router(router)
    app.include_router(admin_router)
    # a broker blip does not stop identity serving: the outbox keeps events until it is back
    app.include_router(
        health_router(
            {"database": database.ping, "kv": ports.kv.ping}, reported={"bus": ports.bus.ping}
        )
    )
    return app
