"""Request ids and trace context (common.tracing): through HTTP, the bus and the outbox, onto
every log line; spans only when an SDK tracer provider is enabled."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from common import tracing
from common.bus.memory import InMemoryBus
from common.bus.topology import TRANSCODER
from common.db import Database
from common.events import Envelope, VideoUploaded
from common.logging import RequestContextFilter
from common.outbox import OutboxBase, OutboxRelay, add_to_outbox

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
PRODUCER = {"x-request-id": "upload-42", "traceparent": PARENT}


def job(video_id: int = 1) -> VideoUploaded:
    return VideoUploaded(video_id=video_id, source_key=f"src/{video_id}.mp4")


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON lines of the `consumer` logger, formatted as `common.logging` formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(name)s %(message)s %(request_id)s %(trace_id)s"))
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("consumer")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class Seen:
    """A handler that records the context it ran in, and logs a line."""

    def __init__(self) -> None:
        self.contexts: list[tuple[str | None, str | None]] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.contexts.append((tracing.current_request_id(), tracing.current_trace_id()))
        logging.getLogger("consumer").info("handled %s", envelope.routing_key)


@pytest.fixture
async def bus() -> AsyncIterator[InMemoryBus]:
    bus = InMemoryBus()
    await bus.start()
    yield bus
    await bus.close()


# ---------------------------------------------------------------------- the bus


async def test_the_envelope_carries_the_producers_context_to_the_consumer(
    bus: InMemoryBus, log_lines: io.StringIO
) -> None:
    seen = Seen()
    await bus.consume(TRANSCODER.name, seen)
    with tracing.restored(PRODUCER):
        envelope = job().envelope()
        assert envelope.headers["x-request-id"] == "upload-42"
        assert envelope.headers["traceparent"] == PARENT
    await bus.publish(envelope)  # later, elsewhere: the envelope's own context counts
    await bus.drain()
    assert seen.contexts == [("upload-42", TRACE_ID)]
    [line] = parsed(log_lines)
    assert (line["request_id"], line["trace_id"]) == ("upload-42", TRACE_ID)
    assert tracing.current_request_id() is None  # nothing leaks out of the handler


async def test_the_outbox_keeps_the_context_of_the_request_that_wrote_it(
    bus: InMemoryBus, log_lines: io.StringIO, tmp_path: Path
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(OutboxBase.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    seen = Seen()
    await bus.consume(TRANSCODER.name, seen)
    try:
        with tracing.restored(PRODUCER):
            async with sessions() as session, session.begin():
                add_to_outbox(session, job())
                # an envelope made without context takes the one current when it is staged
                add_to_outbox(session, Envelope(routing_key=job(2).routing_key, payload={}))
        relay = OutboxRelay(sessions, bus)
        assert await relay.flush() == 2  # outside the request: in the relay's own context
        await bus.drain()
    finally:
        await engine.dispose()
    assert seen.contexts == [("upload-42", TRACE_ID)] * 2
    assert {(line["request_id"], line["trace_id"]) for line in parsed(log_lines)} == {
        ("upload-42", TRACE_ID)
    }


async def test_an_event_without_context_gets_its_own_request_and_trace_id(
    bus: InMemoryBus,
) -> None:
    seen = Seen()
    await bus.consume(TRANSCODER.name, seen)
    await bus.publish(job(1).envelope())
    await bus.publish(job(2).envelope())
    await bus.drain()
    assert len(seen.contexts) == 2
    assert all(rid and trace_id for rid, trace_id in seen.contexts)
    assert seen.contexts[0] != seen.contexts[1]


def test_an_insane_request_id_is_replaced() -> None:
    for bad in ("", "a" * 129, "two words", "new\nline", "ünï"):
        with tracing.restored({"x-request-id": bad, "traceparent": "garbage"}):
            request_id = tracing.current_request_id()
            assert request_id and request_id != bad
            assert tracing.current_trace_id() not in (None, "0" * 32)
    with tracing.restored({"x-request-id": "A-z_0.9"}):
        assert tracing.current_request_id() == "A-z_0.9"


# ---------------------------------------------------------------------- HTTP


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.get("/echo")
    async def echo() -> dict[str, str | None]:
        return {"request_id": tracing.current_request_id(), "trace_id": tracing.current_trace_id()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return tracing.instrument_app(app)


async def test_the_middleware_takes_a_sane_request_id_and_names_it_in_the_answer() -> None:
    transport = httpx.ASGITransport(app=echo_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        answer = await client.get("/echo", headers=PRODUCER)
        assert answer.json() == {"request_id": "upload-42", "trace_id": TRACE_ID}
        assert answer.headers["x-request-id"] == "upload-42"

        made = await client.get("/echo", headers={"x-request-id": "no spaces allowed"})
        assert made.headers["x-request-id"] == made.json()["request_id"] != "no spaces allowed"
        assert made.json()["trace_id"]

        failed = await client.get("/boom", headers=PRODUCER)
        assert failed.status_code == 500
        assert failed.headers["x-request-id"] == "upload-42"


# ---------------------------------------------------------------------- spans


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield exporter
    finally:
        tracing.disable()


async def test_with_an_sdk_the_consumer_span_is_a_child_of_the_publish_span(
    bus: InMemoryBus, spans: InMemorySpanExporter
) -> None:
    seen = Seen()
    await bus.consume(TRANSCODER.name, seen)
    with tracing.restored(PRODUCER):
        envelope = job().envelope()
    await bus.publish(envelope)
    await bus.drain()
    by_kind = {span.kind: span for span in spans.get_finished_spans()}
    publish, process = by_kind[SpanKind.PRODUCER], by_kind[SpanKind.CONSUMER]
    assert publish.name == "publish video.uploaded"
    assert publish.context is not None and process.parent is not None
    assert process.parent.span_id == publish.context.span_id
    assert publish.parent is not None and publish.parent.span_id == 0x00F067AA0BA902B7
    assert seen.contexts == [("upload-42", TRACE_ID)]


async def test_with_an_sdk_database_statements_are_spans_of_the_request(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    """The SQLAlchemy instrumentation reaches the engines `common.db` makes (it looks the
    factory up at call time) on the installed SQLAlchemy, whatever range the package declares."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}")
    try:
        with tracing.restored(PRODUCER):
            assert await database.ping()
    finally:
        await database.dispose()
    statements = [s for s in spans.get_finished_spans() if s.name.startswith("SELECT")]
    assert statements, [s.name for s in spans.get_finished_spans()]
    assert all(
        s.context is not None and s.context.trace_id == int(TRACE_ID, 16) for s in statements
    )


async def test_without_an_sdk_no_span_is_made(bus: InMemoryBus) -> None:
    exporter = InMemorySpanExporter()  # attached to nothing: nothing may reach it anyway
    seen = Seen()
    await bus.consume(TRANSCODER.name, seen)
    with tracing.restored(PRODUCER):
        await bus.publish(job().envelope())
    await bus.drain()
    assert exporter.get_finished_spans() == ()
    assert tracing._tracer is None
    assert seen.contexts == [("upload-42", TRACE_ID)]
