"""Alembic, run programmatically: each service keeps its scripts in `<service>/migrations/`.

`upgrade()` is what all-in-one start-up and the `migrate` command call; `run_env()` is the body
of every service's `migrations/env.py`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from common.db import async_url, is_sqlite, prepare_sqlite_file

_LOCK_KEY = 0x56464C58  # "VFLX": the advisory lock held while a database migrates


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
