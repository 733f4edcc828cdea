"""The bus port's contract, run against every adapter.

The RabbitMQ adapter runs against the real broker (`rabbitmq_url`: a fresh vhost per test);
it is skipped when none is configured.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from common import events
from common.bus import Bus, PermanentError
from common.bus.memory import InMemoryBus
from common.bus.topology import CATALOG, MAILER, TRANSCODER, QueueSpec
from common.events import Envelope
from tests.support.waiting import eventually

DELAYS_MS = [50, 100]
ATTEMPTS_MAX = 1 + len(DELAYS_MS)


@dataclass(frozen=True)
class Target:
    kind: str
    url: str | None = None


@pytest.fixture(params=["memory", "rabbitmq"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "rabbitmq":
        return Target("rabbitmq", request.getfixturevalue("rabbitmq_url"))
    return Target("memory")


MakeBus = Callable[..., Awaitable[Bus]]


@pytest.fixture
async def make_bus(target: Target) -> AsyncIterator[MakeBus]:
    """Builds started buses on the same target; closes them all afterwards."""
    buses: list[Bus] = []

    async def make(**options: Any) -> Bus:
        """`options`: more arguments for the adapter (e.g. `queue_retry_delays_ms`)."""
        bus: Bus
        if target.kind == "rabbitmq":
            from common.bus.rabbitmq import RabbitMQBus

            assert target.url is not None
            bus = RabbitMQBus(target.url, exchange="vf-test", retry_delays_ms=DELAYS_MS, **options)
        else:
            bus = InMemoryBus(retry_delays_ms=DELAYS_MS, **options)
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in reversed(buses):
        await bus.close()


@pytest.fixture
async def bus(make_bus: MakeBus) -> Bus:
    return await make_bus()


async def dead_letters_eventually(bus: Bus, queue: str, count: int) -> list[Envelope]:
    return await eventually(
        lambda: bus.dead_letters(queue),
        lambda dead: len(dead) >= count,
        interval=0.05,
        failure=lambda dead: f"{count} dead letter(s) on {queue} expected, got {dead}",
    )


async def settled(
    target: Target,
    bus: Bus,
    queues: list[QueueSpec],
    *handlers: Recorder,
    delays_ms: list[int] = DELAYS_MS,
) -> None:
    """Until nothing more can arrive without a new publish: how a test shows that something
    does NOT happen (no further attempt, no stray delivery) without a fixed sleep.

    The in-memory bus knows it (`drain`, over every consumed queue). On RabbitMQ: no recorder
    runs, and no message is ready in `queues` or their retry queues (a passive declare's message
    count), twice in a row (a delivery on its way to a handler is seen by neither)."""
    if isinstance(bus, InMemoryBus):
        await bus.drain()
        return
    import aio_pika

    from common.bus.rabbitmq import retry_queue_name

    assert target.url is not None
    names = [q.name for q in queues]
    names += [retry_queue_name(q.name, delay) for q in queues for delay in delays_ms]
    connection = await aio_pika.connect(target.url)
    async with connection:
        channel = await connection.channel()

        async def ready_messages() -> int:
            declared = [await channel.declare_queue(n, passive=True) for n in names]
            running = sum(h.running for h in handlers)
            return running + sum(q.declaration_result.message_count or 0 for q in declared)

        for _ in range(2):
            await eventually(ready_messages, lambda count: count == 0, interval=0.02)


def uploaded(video_id: int = 1) -> Envelope:
    return events.VideoUploaded(video_id=video_id, source_key=f"src/{video_id}.mp4").envelope()


def mail() -> Envelope:
    return events.MailRequested(
        kind="activation", address="a@example.com", sealed_link="sealed"
    ).envelope()


class Recorder:
    """A handler that records what it got; `fail_first` runs raise `fail_with`. `running`
    counts the runs in progress."""

    def __init__(self, *, fail_first: int = 0, fail_with: type[Exception] = RuntimeError) -> None:
        self.received: list[Envelope] = []
        self.times: list[float] = []
        self.fail_first = fail_first
        self.fail_with = fail_with
        self.running = 0

    async def __call__(self, envelope: Envelope) -> None:
        self.running += 1
        try:
            self.received.append(envelope)
            self.times.append(time.monotonic())
            if len(self.received) <= self.fail_first:
                raise self.fail_with(f"boom #{len(self.received)}")
        finally:
            self.running -= 1


# ---------------------------------------------------------------------- delivery and routing


async def test_published_before_consume_is_delivered(bus: Bus) -> None:
    sent = uploaded(7)
    await bus.publish(sent)
    handler = Recorder()
    await bus.consume(TRANSCODER.name, handler)
    await eventually(lambda: len(handler.received) == 1)
    got = handler.received[0]
    assert got == sent
    assert got.parse(events.VideoUploaded).source_key == "src/7.mp4"


async def test_routes_to_the_bound_queue_only(target: Target, bus: Bus) -> None:
    transcoder, mailer, catalog = Recorder(), Recorder(), Recorder()
    await bus.consume(TRANSCODER.name, transcoder)
    await bus.consume(MAILER.name, mailer)
    await bus.consume(CATALOG.name, catalog)
    video, letter = uploaded(), mail()
    await bus.publish(video)
    await bus.publish(letter)
    await eventually(lambda: len(transcoder.received) == 1 and len(mailer.received) == 1)
    await settled(target, bus, [TRANSCODER, MAILER, CATALOG], transcoder, mailer, catalog)
    assert [e.id for e in transcoder.received] == [video.id]
    assert [e.id for e in mailer.received] == [letter.id]
    assert catalog.received == []


async def test_unroutable_publish_is_an_error(bus: Bus) -> None:
    with pytest.raises(Exception):  # noqa: B017 - each adapter has its own error type
        await bus.publish(Envelope(routing_key="nobody.listens", payload={}))


async def test_consume_unknown_queue_is_an_error(bus: Bus) -> None:
    with pytest.raises(ValueError):
        await bus.consume("no.such.queue", Recorder())


# ---------------------------------------------------------------------- retries and dead letters


async def test_failing_handler_is_retried_until_it_succeeds(target: Target, bus: Bus) -> None:
    handler = Recorder(fail_first=2)
    await bus.consume(TRANSCODER.name, handler)
    sent = uploaded()
    await bus.publish(sent)
    await eventually(lambda: len(handler.received) == 3)
    await settled(target, bus, [TRANSCODER], handler)
    assert len(handler.received) == 3
    # each retry waits (at least) its delay
    gaps = [b - a for a, b in zip(handler.times, handler.times[1:], strict=False)]
    assert gaps[0] >= DELAYS_MS[0] / 1000 * 0.9
    assert gaps[1] >= DELAYS_MS[1] / 1000 * 0.9
    assert await bus.dead_letters(TRANSCODER.name) == []


async def test_always_failing_handler_ends_in_dead_letters(target: Target, bus: Bus) -> None:
    handler = Recorder(fail_first=10**6)
    await bus.consume(TRANSCODER.name, handler)
    sent = uploaded(3)
    await bus.publish(sent)
    dead = await dead_letters_eventually(bus, TRANSCODER.name, 1)
    assert [e.id for e in dead] == [sent.id]
    assert dead[0] == sent
    await settled(target, bus, [TRANSCODER], handler)  # no retry is pending: no more attempts come
    assert len(handler.received) == ATTEMPTS_MAX
    # reading the dead letters does not remove them
    assert [e.id for e in await bus.dead_letters(TRANSCODER.name)] == [sent.id]
    assert await bus.dead_letters(MAILER.name) == []


async def test_permanent_error_skips_retries(target: Target, bus: Bus) -> None:
    handler = Recorder(fail_first=10**6, fail_with=PermanentError)
    await bus.consume(MAILER.name, handler)
    sent = mail()
    await bus.publish(sent)
    dead = await dead_letters_eventually(bus, MAILER.name, 1)
    assert [e.id for e in dead] == [sent.id]
    await settled(target, bus, [MAILER], handler)
    assert len(handler.received) == 1


async def test_redelivery_keeps_the_envelope_id(bus: Bus) -> None:
    """Consumers deduplicate on the id, so every delivery of a message carries the same one."""
    handler = Recorder(fail_first=1)
    await bus.consume(CATALOG.name, handler)
    sent = events.VideoProgress(video_id=5, percent=40).envelope()
    await bus.publish(sent)
    await eventually(lambda: len(handler.received) == 2)
    first, second = handler.received
    assert first.id == second.id == sent.id
    assert first == second == sent
    assert first is not second


# ---------------------------------------------------------------------- lifecycle


@pytest.mark.parametrize("target", ["rabbitmq"], indirect=True)  # in-memory: not durable
async def test_messages_survive_a_bus_restart(target: Target, make_bus: MakeBus) -> None:
    first = await make_bus()
    sent = uploaded(11)
    await first.publish(sent)
    await first.close()

    second = await make_bus()
    handler = Recorder()
    await second.consume(TRANSCODER.name, handler)
    await eventually(lambda: len(handler.received) == 1)
    assert handler.received[0] == sent


async def test_close_lets_the_running_handler_finish(target: Target, make_bus: MakeBus) -> None:
    bus = await make_bus()
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[uuid.UUID] = []

    async def slow(envelope: Envelope) -> None:
        started.set()
        await release.wait()
        # a job finishing during shutdown still reports its result (the transcoder does)
        await bus.publish(events.VideoProgress(video_id=1, percent=50).envelope())
        finished.append(envelope.id)

    await bus.consume(TRANSCODER.name, slow, prefetch=1)
    sent = uploaded()
    await bus.publish(sent)
    await asyncio.wait_for(started.wait(), 5)
    closing = asyncio.create_task(bus.close())
    await asyncio.sleep(0.1)
    assert not closing.done()
    release.set()
    await asyncio.wait_for(closing, 5)
    assert finished == [sent.id]

    if target.kind == "rabbitmq":
        # it was acknowledged: a new consumer does not get it again
        again = await make_bus()
        handler = Recorder()
        await again.consume(TRANSCODER.name, handler)
        await settled(target, again, [TRANSCODER], handler)
        assert handler.received == []


# ---------------------------------------------------------------------- prefetch


async def _max_concurrency(bus: Bus, prefetch: int, messages: int = 5) -> tuple[int, int]:
    running = peak = done = 0

    async def handler(envelope: Envelope) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        done += 1

    for i in range(messages):
        await bus.publish(uploaded(i))
    await bus.consume(TRANSCODER.name, handler, prefetch=prefetch)
    await eventually(lambda: done == messages)
    return peak, done


async def test_prefetch_one_runs_one_handler_at_a_time(bus: Bus) -> None:
    peak, done = await _max_concurrency(bus, prefetch=1)
    assert (peak, done) == (1, 5)


async def test_larger_prefetch_runs_handlers_concurrently(bus: Bus) -> None:
    peak, _ = await _max_concurrency(bus, prefetch=3)
    assert 1 < peak <= 3


# ---------------------------------------------------------------------- adapter specifics


@pytest.mark.parametrize("target", ["rabbitmq"], indirect=True)  # only a broker carries raw bytes
async def test_rabbitmq_unparsable_body_goes_straight_to_dead_letters(
    target: Target, bus: Bus
) -> None:
    import aio_pika

    handler = Recorder()
    await bus.consume(TRANSCODER.name, handler)
    assert target.url is not None
    connection = await aio_pika.connect(target.url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("vf-test")
        await exchange.publish(
            aio_pika.Message(b"not json", message_id="raw-1"), routing_key=events.VIDEO_UPLOADED
        )
    dead = await dead_letters_eventually(bus, TRANSCODER.name, 1)
    assert len(dead) == 1
    assert dead[0].routing_key == events.VIDEO_UPLOADED
    assert dead[0].payload == {"unparsable_body": "not json"}
    assert handler.received == []


async def test_ping(target: Target, make_bus: MakeBus) -> None:
    bus = await make_bus()
    assert await bus.ping()  # type: ignore[attr-defined]
    await bus.close()
    assert not await bus.ping()  # type: ignore[attr-defined]


async def test_in_memory_drain_waits_for_the_whole_cascade() -> None:
    bus = InMemoryBus(retry_delays_ms=DELAYS_MS)
    await bus.start()
    results: list[Envelope] = []

    async def transcoder(envelope: Envelope) -> None:
        await asyncio.sleep(0.02)
        video = envelope.parse(events.VideoUploaded)
        await bus.publish(
            events.VideoTranscoded(
                video_id=video.video_id, renditions=["480p"], duration=1.0, width=1, height=1
            ).envelope()
        )

    flaky = Recorder(fail_first=1)

    async def catalog(envelope: Envelope) -> None:
        await flaky(envelope)
        results.append(envelope)

    try:
        await bus.consume(TRANSCODER.name, transcoder)
        await bus.consume(CATALOG.name, catalog)
        await bus.publish(uploaded(9))
        await bus.drain()
        assert [e.routing_key for e in results] == [events.VIDEO_TRANSCODED]
    finally:
        await bus.close()


@pytest.mark.parametrize("target", ["rabbitmq"], indirect=True)
async def test_rabbitmq_retry_delays_can_change_on_an_existing_broker(target: Target) -> None:
    """An operator changing BUS_RETRY_DELAYS_MS must not be stopped by the queues that the
    old delays declared."""
    from common.bus.rabbitmq import RabbitMQBus

    assert target.url is not None
    first = RabbitMQBus(target.url, exchange="vf-test", retry_delays_ms=[50, 100])
    await first.start()
    await first.close()
    second = RabbitMQBus(target.url, exchange="vf-test", retry_delays_ms=[70, 100, 300])
    await second.start()
    try:
        handler = Recorder(fail_first=1)
        await second.consume(TRANSCODER.name, handler)
        await second.publish(uploaded(21))
        await eventually(lambda: len(handler.received) == 2)
    finally:
        await second.close()


# ---------------------------------------------------------------------- schedules and replay


async def test_a_queue_keeps_its_own_retry_schedule(target: Target, make_bus: MakeBus) -> None:
    """The mailer waits out long outages while other queues keep the bus-wide schedule."""
    bus = await make_bus(queue_retry_delays_ms={MAILER.name: [30, 30, 30, 30]})
    letters, jobs = Recorder(fail_first=10**6), Recorder(fail_first=10**6)
    await bus.consume(MAILER.name, letters)
    await bus.consume(TRANSCODER.name, jobs)
    await bus.publish(mail())
    await bus.publish(uploaded())
    await dead_letters_eventually(bus, MAILER.name, 1)
    await dead_letters_eventually(bus, TRANSCODER.name, 1)
    await settled(target, bus, [MAILER], letters, jobs, delays_ms=[30])
    await settled(target, bus, [TRANSCODER], letters, jobs)
    assert (len(letters.received), len(jobs.received)) == (5, ATTEMPTS_MAX)


async def test_parked_messages_are_counted_and_replayed(target: Target, bus: Bus) -> None:
    handler = Recorder(fail_first=ATTEMPTS_MAX)  # fails until parked, then works
    await bus.consume(TRANSCODER.name, handler)
    sent = uploaded(4)
    await bus.publish(sent)
    await dead_letters_eventually(bus, TRANSCODER.name, 1)
    assert await bus.dead_letter_count(TRANSCODER.name) == 1
    assert await bus.dead_letter_count(MAILER.name) == 0
    assert bus.parked == {TRANSCODER.name: 1}

    assert await bus.replay_dead_letters(TRANSCODER.name) == 1
    await eventually(lambda: len(handler.received) == ATTEMPTS_MAX + 1)
    await settled(target, bus, [TRANSCODER], handler)
    assert handler.received[-1] == sent  # the same envelope, id included
    assert await bus.dead_letter_count(TRANSCODER.name) == 0
    assert await bus.dead_letters(TRANSCODER.name) == []
    assert await bus.replay_dead_letters(TRANSCODER.name) == 0


async def test_replay_gets_a_fresh_retry_schedule(target: Target, bus: Bus) -> None:
    handler = Recorder(fail_first=10**6)
    await bus.consume(TRANSCODER.name, handler)
    await bus.publish(uploaded(5))
    await dead_letters_eventually(bus, TRANSCODER.name, 1)
    await bus.replay_dead_letters(TRANSCODER.name, limit=1)
    await eventually(lambda: len(handler.received) == 2 * ATTEMPTS_MAX)
    await dead_letters_eventually(bus, TRANSCODER.name, 1)
    await settled(target, bus, [TRANSCODER], handler)
    assert len(handler.received) == 2 * ATTEMPTS_MAX
    assert bus.parked == {TRANSCODER.name: 2}


def test_retry_schedules_from_the_settings() -> None:
    from common.bus import queue_retry_delays
    from common.bus.topology import MAIL_RETRY_DELAYS_MS
    from common.config import Settings

    # the mailer outlasts a day-long SMTP outage, in retries no more than 30 minutes apart
    assert sum(MAIL_RETRY_DELAYS_MS) >= 24 * 3600 * 1000
    assert max(MAIL_RETRY_DELAYS_MS) == 30 * 60 * 1000
    assert queue_retry_delays(Settings()) == {MAILER.name: list(MAIL_RETRY_DELAYS_MS)}
    own = Settings(bus_queue_retry_delays_ms="mailer.mail=10,20; transcoder.jobs=5")
    assert queue_retry_delays(own) == {MAILER.name: [10, 20], TRANSCODER.name: [5]}
    for wrong in ("nobody=10", "mailer.mail", "mailer.mail=ten"):
        with pytest.raises(ValueError):
            queue_retry_delays(Settings(bus_queue_retry_delays_ms=wrong))


def test_replay_command_needs_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-memory bus's parked messages live in the all-in-one process: nothing to reach."""
    from common.bus.__main__ import NO_BROKER, main

    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    assert main(["replay", MAILER.name]) == NO_BROKER
