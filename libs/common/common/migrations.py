"""Alembic, run programmatically: each service keeps its scripts in `<service>/migrations/`.

`upgrade()` is what all-in-one start-up and the `migrate` command call; `run_env()` is the body
of every service's `migrations/env.py`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from common.db import async_url, connect_once, is_sqlite, prepare_sqlite_file

log = logging.getLogger(__name__)

_LOCK_KEY = 0x56464C58  # "VFLX": the advisory lock held while a database migrates
_NO_SUCH_DATABASE = "3D000"  # invalid_catalog_name
_NOT_ALLOWED = {"42501", "28000"}  # insufficient_privilege, invalid_authorization_specification
_MAINTENANCE_DATABASE = "postgres"


def alembic_config(script_location: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # '%' would be taken for interpolation by configparser
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


async def upgrade(script_location: Path, url: str) -> None:
    """Bring the database to the newest revision. Alembic's env runs its own event loop, so it
    runs in a worker thread."""
    if is_sqlite(url):
        prepare_sqlite_file(url)
    await asyncio.to_thread(command.upgrade, alembic_config(script_location, url), "head")


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, wrapped by SQLAlchemy (`DBAPIError.orig`) or not (before
    SQLAlchemy 2.0.4x, asyncpg's errors while connecting came through unwrapped)."""
    origin = exc.orig if isinstance(exc, DBAPIError) else exc
    state = getattr(origin, "sqlstate", None) or getattr(origin, "pgcode", None)
    return state if isinstance(state, str) else None


async def create_database_if_missing(url: str) -> None:
    """PostgreSQL: create the database `url` names if it does not exist yet, from the server's
    `postgres` maintenance database. A refusal (a role without CREATEDB) is logged, not
    raised: an operator makes the database, or migrating then says it is missing. A server
    that does not answer raises, so that start-up can wait for it. SQLite needs nothing: its
    file is made on first use."""
    if is_sqlite(url):
        return
    try:
        await connect_once(url)
        return
    except Exception as exc:
        if _sqlstate(exc) != _NO_SUCH_DATABASE:
            raise
    target = make_url(async_url(url))
    name = target.database
    assert name, "a PostgreSQL URL names its database"
    engine = create_async_engine(
        target.set(database=_MAINTENANCE_DATABASE),
        poolclass=pool.NullPool,
        isolation_level="AUTOCOMMIT",  # CREATE DATABASE cannot run in a transaction
    )
    quoted = engine.dialect.identifier_preparer.quote(name)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {quoted}"))
        log.info("created database %s", name)
    except Exception as exc:
        if _sqlstate(exc) is None:
            raise  # not the server's refusal (the server went away): start-up waits again
        try:
            await connect_once(url)  # another replica created it meanwhile
            return
        except Exception as again:
            if _sqlstate(again) is None:
                raise
        hint = "grant the role CREATEDB" if _sqlstate(exc) in _NOT_ALLOWED else "see the error"
        log.warning(
            "database %s does not exist and could not be created from %r (%s): create it, or %s",
            name,
            _MAINTENANCE_DATABASE,
            exc.orig if isinstance(exc, DBAPIError) else exc,
            hint,
        )
    finally:
        await engine.dispose()


def run_env(*metadata: MetaData) -> None:
    """Run the migrations of `env.py` online, on an async engine."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    batch = is_sqlite(url)

    def _run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=list(metadata),
            render_as_batch=batch,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def _online() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        locking = engine.dialect.name == "postgresql"
        async with engine.connect() as connection:
            if locking:
                # replicas starting together migrate one at a time; the others find it done
                await connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
                await connection.commit()
            try:
                await connection.run_sync(_run)
            finally:
                if locking:
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY}
                    )
                    await connection.commit()
        await engine.dispose()

    asyncio.run(_online())
