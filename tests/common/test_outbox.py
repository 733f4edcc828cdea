"""The transactional outbox, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from common import events
from common.bus.memory import InMemoryBus
from common.bus.topology import TRANSCODER
from common.events import Envelope
from common.outbox import OutboxBase, OutboxMessage, OutboxRelay, add_to_outbox
from tests.support.fakes import RecordingBus
from tests.support.waiting import eventually


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url.replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(OutboxBase.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def uploaded(video_id: int) -> events.VideoUploaded:
    return events.VideoUploaded(video_id=video_id, source_key=f"src/{video_id}.mp4")


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as session:
        result = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at))
        return list(result.all())


async def test_committed_event_is_published_and_deleted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = RecordingBus()
    relay = OutboxRelay(sessions, bus, poll_interval=0.05)  # type: ignore[arg-type]
    relay.start()
    try:
        async with sessions() as session, session.begin():
            envelope = add_to_outbox(session, uploaded(1))
        relay.notify()
        await eventually(lambda: len(bus.published) == 1)
    finally:
        await relay.stop()
    assert bus.published == [envelope]
    assert envelope.routing_key == events.VIDEO_UPLOADED
    assert bus.calls == 1
    # published rows go at once: an event may carry what must not stay in a table
    assert await rows(sessions) == []


async def test_events_are_published_in_commit_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = RecordingBus()
    relay = OutboxRelay(sessions, bus, batch_size=2)  # type: ignore[arg-type]
    sent = []
    for i in range(5):
        async with sessions() as session, session.begin():
            sent.append(add_to_outbox(session, uploaded(i)))
    # an Envelope goes in as it is
    async with sessions() as session, session.begin():
        sent.append(add_to_outbox(session, Envelope(routing_key="video.progress", payload={})))
    assert await relay.flush() == 6
    assert [e.id for e in bus.published] == [e.id for e in sent]
    assert await rows(sessions) == []
    assert await relay.flush() == 0  # nothing is published twice


async def test_rolled_back_transaction_publishes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = RecordingBus()
    relay = OutboxRelay(sessions, bus, poll_interval=0.05)  # type: ignore[arg-type]
    relay.start()
    try:
        async with sessions() as session:
            add_to_outbox(session, uploaded(1))
            await session.flush()  # the row reaches the database, uncommitted
            await session.rollback()
        with pytest.raises(RuntimeError):
            async with sessions() as session, session.begin():
                add_to_outbox(session, uploaded(2))
                raise RuntimeError("the business change failed")
        # a marker committed after them: the relay publishes in commit order, so once the
        # marker is out, anything the rolled-back transactions left would be out too
        async with sessions() as session, session.begin():
            marker = add_to_outbox(session, uploaded(3))
        relay.notify()
        await eventually(lambda: bus.published)
        assert await relay.flush() == 0
    finally:
        await relay.stop()
    assert bus.published == [marker]
    assert await rows(sessions) == []  # the marker, published; nothing else was there


async def test_failed_publish_is_retried_and_nothing_is_lost(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = RecordingBus(fail_first=1)
    relay = OutboxRelay(sessions, bus, poll_interval=0.05)  # type: ignore[arg-type]
    async with sessions() as session, session.begin():
        first = add_to_outbox(session, uploaded(1))
        second = add_to_outbox(session, uploaded(2))

    with pytest.raises(ConnectionError):
        await relay.flush()
    [row1, row2] = await rows(sessions)
    assert row1.published_at is None and row1.attempts == 1
    assert row1.last_error is not None and "broker unreachable" in row1.last_error
    assert row2.published_at is None and row2.attempts == 0  # the batch stopped at the failure

    relay.start()
    try:
        await eventually(lambda: len(bus.published) == 2)
    finally:
        await relay.stop()
    assert {e.id for e in bus.published} == {first.id, second.id}
    assert await rows(sessions) == []


async def test_relay_backs_off_then_recovers_in_the_background(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = RecordingBus(fail_first=2)
    relay = OutboxRelay(sessions, bus, poll_interval=0.02)  # type: ignore[arg-type]
    relay.start()
    try:
        async with sessions() as session, session.begin():
            sent = add_to_outbox(session, uploaded(1))
        relay.notify()
        await eventually(lambda: len(bus.published) == 1)
    finally:
        await relay.stop()
    assert bus.published == [sent]
    assert bus.calls == 3  # two failures, then the publish
    assert await rows(sessions) == []


async def test_rows_kept_by_an_older_version_are_deleted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Older relays marked rows published and kept them a day: the first pass deletes them,
    whatever their age, and publishes what is pending."""
    bus = RecordingBus()
    async with sessions() as session, session.begin():
        old = add_to_outbox(session, uploaded(1))
        recent = add_to_outbox(session, uploaded(2))
        pending = add_to_outbox(session, uploaded(3))
    async with sessions() as session, session.begin():
        for envelope, age in ((old, timedelta(days=2)), (recent, timedelta(seconds=1))):
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == str(envelope.id))
                .values(published_at=datetime.now(UTC) - age)
            )
    relay = OutboxRelay(sessions, bus, poll_interval=0.05)  # type: ignore[arg-type]
    relay.start()  # the first pass also cleans up
    try:
        await eventually(lambda: len(bus.published) == 1)
    finally:
        await relay.stop()  # lets the pass in progress finish: its clean-up too
    assert bus.published == [pending]  # what was published already is not published again
    assert await rows(sessions) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite: no row locks
async def test_concurrent_relays_publish_each_row_once(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        sent = [add_to_outbox(session, uploaded(i)) for i in range(60)]

    class SlowBus(RecordingBus):
        async def publish(self, envelope: Envelope) -> None:
            await asyncio.sleep(0.001)
            await super().publish(envelope)

    bus = SlowBus()
    relays = [OutboxRelay(sessions, bus, batch_size=5) for _ in range(3)]  # type: ignore[arg-type]
    counts = await asyncio.gather(*(relay.flush() for relay in relays))
    assert sum(counts) == 60
    assert sorted(str(e.id) for e in bus.published) == sorted(str(e.id) for e in sent)


async def test_relay_feeds_a_real_bus(sessions: async_sessionmaker[AsyncSession]) -> None:
    bus = InMemoryBus(retry_delays_ms=[10])
    await bus.start()
    received: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        received.append(envelope)

    await bus.consume(TRANSCODER.name, handler)
    relay = OutboxRelay(sessions, bus, poll_interval=0.05)
    relay.start()
    try:
        async with sessions() as session, session.begin():
            sent = add_to_outbox(session, uploaded(4))
        relay.notify()
        await eventually(lambda: len(received) == 1)
    finally:
        await relay.stop()
        await bus.close()
    assert received == [sent]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
