"""Async database access: one engine per service database, SQLite or PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlalchemy.types import TypeDecorator

from common.private_files import private_directory, restrict, touch_private

# what SQLite keeps beside a database file
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive ones).

    Naive datetimes are refused on the way in; values come back aware, in UTC. Migrations
    spell the column `sa.DateTime(timezone=True)`: the decorator changes no schema.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def async_url(url: str) -> str:
    """Accept the usual spellings (`postgres://`, `postgresql://`, `sqlite:///`) and name the
    async driver SQLAlchemy needs."""
    parsed = make_url(url)
    driver = parsed.drivername
    if driver in {"postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif driver == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_url(url)
        kwargs: dict[str, object] = {"echo": echo}
        if is_sqlite(self.url):
            prepare_sqlite_file(self.url)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
        # looked up at call time, so OpenTelemetry's SQLAlchemy instrumentation can wrap it
        self.engine: AsyncEngine = sa_asyncio.create_async_engine(self.url, **kwargs)
        if is_sqlite(self.url):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


async def connect_once(url: str) -> None:
    """Open one connection to `url` and run `SELECT 1`; raises what the driver raises (start-up
    waits on it: `common.startup.until_up`)."""
    engine = sa_asyncio.create_async_engine(async_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database."""
    database = make_url(async_url(url)).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


def prepare_sqlite_file(url: str) -> None:
    """Only this user may read the database: its folder, when made here, `0700`; the file
    made `0600` before SQLite opens it. SQLite gives its WAL and shared-memory files the
    mode of the database file; those left by an older version are made `0600` too."""
    path = sqlite_path(url)
    if path is None:
        return
    private_directory(path.parent)
    touch_private(path)  # an empty file is an empty database
    for suffix in SQLITE_COMPANIONS:
        restrict(path.with_name(path.name + suffix))


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """WAL lets readers run beside the one writer; foreign keys are off by default in SQLite."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
