"""Which failures mean "a backing service cannot be reached right now" (the database, the
broker, the key-value store restarting or unreachable): the answer is 503, to try again,
not 500, a bug. `common.errors.CatchAllMiddleware` asks `is_unavailable`."""

from __future__ import annotations

import socket

import sqlalchemy.exc

RETRY_AFTER_SECONDS = 5

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,
    socket.gaierror,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free
)

try:
    import asyncpg  # type: ignore[import-untyped]

    _UNAVAILABLE += (
        asyncpg.PostgresConnectionError,  # the connection died under a query
        asyncpg.CannotConnectNowError,  # starting up or shutting down
        asyncpg.AdminShutdownError,
    )
except ImportError:  # pragma: no cover - SQLite-only installs
    pass

try:
    import redis.exceptions

    _UNAVAILABLE += (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
except ImportError:  # pragma: no cover
    pass


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc`, or an error it was raised from, is a lost or refused connection to a
    backing service (SQLAlchemy wraps the driver's error; its `connection_invalidated` says
    the same)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False
