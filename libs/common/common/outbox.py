"""Transactional outbox: events are written in the same database transaction as the state
change that causes them, and a relay publishes them to the bus afterwards.

A crash between the commit and the publish therefore delays the event, never loses it. The
relay may publish a message twice (published but crashed before deleting it); consumers are
idempotent on the envelope id, which is the row's primary key.

A row is deleted as soon as its event is published: events may carry what must not stay in a
table (a mail event's link, sealed all the same: see `common.events.MailRequested`).

Services add `OutboxBase.metadata` to their migrations (or `create_all`) to get the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Index, Integer, String, Text, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common import tracing
from common.bus.port import Bus
from common.db import Database
from common.events import Envelope, Event
from common.metrics import watch_outbox
from common.migrations import upgrade

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxBase(DeclarativeBase):
    """Separate metadata, so any service's database can hold the outbox table."""


class OutboxMessage(OutboxBase):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_pending", "published_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the envelope id
    routing_key: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)  # the envelope as JSON
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    # set only by older versions, which kept published rows (the relay deletes them)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


def add_to_outbox(session: AsyncSession, event: Event | Envelope) -> Envelope:
    """Stage `event` in the caller's transaction; it is sent once the caller commits.

    The row keeps the caller's request id and trace context (`common.tracing`): the relay
    publishes in them, later and in another task."""
    envelope = event if isinstance(event, Envelope) else event.envelope()
    if not envelope.headers:
        envelope = envelope.model_copy(update={"headers": tracing.headers()})
    session.add(
        OutboxMessage(
            id=str(envelope.id),
            routing_key=envelope.routing_key,
            body=envelope.model_dump_json(),
            created_at=_utcnow(),
            published_at=None,
            attempts=0,
        )
    )
    return envelope


class OutboxRelay:
    """Publishes committed outbox rows, oldest first, and deletes them.

    Rows are selected `FOR UPDATE SKIP LOCKED` (PostgreSQL), so several replicas can relay
    the same table without publishing a row twice concurrently; SQLite ignores the clause
    and one relay per process is assumed (`flush` and the loop share a lock). On a publish
    failure the batch stops there, so events keep their order, and the relay backs off.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        poll_interval: float = 0.5,
        batch_size: int = 100,
        max_backoff: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._bus = bus
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._max_backoff = max_backoff
        self._stop_timeout = stop_timeout
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._in_pass = False
        self._cleaned_up = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    def notify(self) -> None:
        """Publish soon: call after committing a transaction that added to the outbox."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the loop; a pass in progress may finish (up to `stop_timeout`) so that rows
        already published get deleted."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        if not self._in_pass:
            task.cancel()
        _done, pending = await asyncio.wait({task}, timeout=self._stop_timeout)
        if pending:
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox relay ended with an error", exc_info=task.exception())

    async def flush(self) -> int:
        """Publish everything pending now; returns how many. Raises if a publish fails."""
        total = 0
        while True:
            published, error, more = await self._publish_batch()
            total += published
            if error is not None:
                raise error
            if not more:
                return total

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many events wait to be published, and when the oldest was written (metrics)."""
        async with self._sessionmaker() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(OutboxMessage.created_at)).where(
                        OutboxMessage.published_at.is_(None)
                    )
                )
            ).one()
        return int(count), oldest

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()  # a notify() from now on triggers another pass
            self._in_pass = True
            try:
                ok = await self._pass()
            except Exception:
                log.exception("outbox relay pass failed")
                ok = False
            finally:
                self._in_pass = False
            if self._stopping:
                return
            if ok:
                failures = 0
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_interval):
                        await self._wake.wait()
            else:
                # notify() does not cut the backoff short: a failing broker is not hammered
                failures += 1
                backoff = min(self._poll_interval * 2 ** (failures - 1), self._max_backoff)
                await asyncio.sleep(max(backoff, 0.01))

    async def _pass(self) -> bool:
        """Publish batches until nothing is pending; False if a publish failed."""
        while True:
            _published, error, more = await self._publish_batch()
            if error is not None:
                return False
            if not more or self._stopping:
                break
        if not self._cleaned_up:
            await self._cleanup()
        return True

    async def _publish_batch(self) -> tuple[int, Exception | None, bool]:
        """One transaction: lock up to `batch_size` pending rows, publish, delete.

        Returns (published, the publish error if any, whether a full batch was taken).
        """
        published = 0
        error: Exception | None = None
        async with self._lock, self._sessionmaker() as session, session.begin():
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.created_at, OutboxMessage.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                try:
                    await self._bus.publish(Envelope.model_validate_json(row.body))
                except Exception as exc:
                    row.attempts += 1
                    row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                    log.warning(
                        "outbox: publishing %s %s failed (attempt %d)",
                        row.routing_key,
                        row.id,
                        row.attempts,
                        exc_info=exc,
                    )
                    error = exc
                    break
                await session.delete(row)
                published += 1
        return published, error, error is None and len(rows) == self._batch_size

    async def _cleanup(self) -> None:
        """Once per start: rows that an older version marked published and kept."""
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                delete(OutboxMessage).where(OutboxMessage.published_at.is_not(None))
            )
        self._cleaned_up = True


@contextlib.asynccontextmanager
async def database_with_outbox(
    database: Database, migrations: Path, bus: Bus, *, migrate: bool
) -> AsyncIterator[OutboxRelay]:
    """A service's database for the lifetime of its app: migrated first when `migrate` (the
    all-in-one wiring; distributed services run `migrate` separately), its outbox relayed to
    `bus` while it runs, everything closed afterwards."""
    if migrate:
        await upgrade(migrations, database.url)
    relay = OutboxRelay(database.sessionmaker, bus)
    unwatch = watch_outbox(database.url, relay.backlog)
    relay.start()
    try:
        yield relay
    finally:
        unwatch()
        await relay.stop()
        await database.dispose()
