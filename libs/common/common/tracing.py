"""Request ids and W3C trace context, from the gateway through every service and bus event.

One request id (`X-Request-ID`, kept when sane, else made here) and one trace context
(`traceparent`/`tracestate`, through OpenTelemetry's W3C propagator) live in contextvars for
the time of a request or of a bus message; `common.logging` puts both on every log line.
They travel as HTTP headers (`RequestContextMiddleware` in, `headers()` out) and in each
envelope's `headers`, captured when the event is made (so an outbox row keeps the context of
the request that wrote it) and restored around its publish and around its handler.

Exporting is opt-in: `setup()` installs an SDK tracer provider with an OTLP exporter and the
FastAPI, httpx, aio-pika and SQLAlchemy instrumentation only when `OTEL_EXPORTER_OTLP_ENDPOINT`
is set. Without it nothing is recorded and no span is made; the OTel API alone carries the
context, and where none arrives a tiny in-house generator makes one (random ids, flags `00`:
not sampled), so logs still correlate.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from common.events import Envelope

REQUEST_ID_HEADER = "x-request-id"
TRACE_HEADERS = ("traceparent", "tracestate")

log = logging.getLogger(__name__)

# ASGI's types, spelt out: the use cases import this module (through common.events) and
# know no HTTP framework, not even its type hints (import-linter)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _App(Protocol):
    def build_middleware_stack(self) -> ASGIApp: ...


AppT = TypeVar("AppT", bound=_App)

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_request_id: ContextVar[str | None] = ContextVar("videoflix_request_id", default=None)
_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None  # set by `enable`: spans are recorded
_tracer: trace.Tracer | None = None


# ---------------------------------------------------------------------- the current context


def sane_request_id(value: str | None) -> str | None:
    """`value` if it is a request id we may pass on (bounded, `[A-Za-z0-9._-]`), else None."""
    return value if value and _SANE_REQUEST_ID.fullmatch(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, None outside any trace."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def headers() -> dict[str, str]:
    """The current request id and trace context as headers, for a request or an envelope."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    if request_id := current_request_id():
        carrier[REQUEST_ID_HEADER] = request_id
    return carrier


def _new_root() -> otel_context.Context:
    """The in-house traceparent: a random trace and span id on a non-recording span. Ids
    name a trace, they guard nothing: `random`, as OpenTelemetry's own id generator, not a
    system call per request for `secrets`."""
    span_context = SpanContext(
        trace_id=random.getrandbits(128) or 1,
        span_id=random.getrandbits(64) or 1,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.DEFAULT),
    )
    return trace.set_span_in_context(NonRecordingSpan(span_context), otel_context.Context())


@contextlib.contextmanager
def restored(carrier: Mapping[str, str], *, trace_context: bool = True) -> Iterator[None]:
    """Run the block with the request id and trace context `carrier` names (as `headers()`
    wrote them); what is missing or malformed is made afresh (the trace context only without
    an SDK: with one, the first span started inside is the root). `trace_context=False`:
    an empty trace context instead, for a block whose instrumentation extracts it itself."""
    ctx = otel_context.Context()
    if trace_context:
        ctx = _propagator.extract(carrier, context=ctx)
        if _tracer is None and not trace.get_current_span(ctx).get_span_context().is_valid:
            ctx = _new_root()
    request_id = sane_request_id(carrier.get(REQUEST_ID_HEADER)) or new_request_id()
    token = otel_context.attach(ctx)
    id_token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(id_token)
        otel_context.detach(token)


# ---------------------------------------------------------------------- the bus


def _messaging(envelope: Envelope, destination: str) -> dict[str, Any]:
    return {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": destination,
        "messaging.message.id": str(envelope.id),
    }


@contextlib.contextmanager
def producing(envelope: Envelope) -> Iterator[Envelope]:
    """Around a publish: in the context the envelope was made in (the current one if it
    carries none), a PRODUCER span when tracing; yields the envelope to send, whose headers
    name that span."""
    carrier = envelope.headers or headers()
    if _tracer is None:
        yield envelope if envelope.headers else envelope.model_copy(update={"headers": carrier})
        return
    with (
        restored(carrier),
        _tracer.start_as_current_span(
            f"publish {envelope.routing_key}",
            kind=SpanKind.PRODUCER,
            attributes=_messaging(envelope, envelope.routing_key),
        ),
    ):
        yield envelope.model_copy(update={"headers": headers()})


@contextlib.contextmanager
def consuming(envelope: Envelope, queue: str) -> Iterator[None]:
    """Around a handler: the producer's request id and trace context, and a CONSUMER span
    (its child) when tracing."""
    with restored(envelope.headers):
        if _tracer is None:
            yield
            return
        with _tracer.start_as_current_span(
            f"process {envelope.routing_key}",
            kind=SpanKind.CONSUMER,
            attributes=_messaging(envelope, queue),
        ):
            yield


# ---------------------------------------------------------------------- HTTP


class RequestContextMiddleware:
    """Runs each HTTP request in its request id and trace context, and names the request id
    in the response's `X-Request-ID` (unless the app set one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = {REQUEST_ID_HEADER, *TRACE_HEADERS}
        carrier: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            if name in wanted and name not in carrier:
                carrier[name] = raw_value.decode("latin-1")
        # with an SDK, OTel's middleware (inside this one) extracts it and starts the server span
        with restored(carrier, trace_context=_tracer is None):
            request_id = (current_request_id() or "").encode()

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    raw = list(message.get("headers", []))
                    if not any(n.lower() == REQUEST_ID_HEADER.encode() for n, _ in raw):
                        message = {**message, "headers": [*raw, (b"x-request-id", request_id)]}
                await send(message)

            await self.app(scope, receive, send_with_id)


def instrument_app(app: AppT) -> AppT:
    """Give `app` the request context (outermost, so even a 500 of Starlette's own error
    middleware names its request id) and, when tracing, OTel's FastAPI instrumentation.
    Call before the app starts; calling again is harmless."""
    if _provider is not None and not getattr(app, "_is_instrumented_by_opentelemetry", False):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # first: it wants Starlette's error middleware on top of the stack it wraps
        FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider)  # type: ignore[arg-type]
    if not getattr(app, "_videoflix_request_context", False):
        build = app.build_middleware_stack

        def build_with_context() -> ASGIApp:
            return RequestContextMiddleware(build())

        app.build_middleware_stack = build_with_context  # type: ignore[method-assign]
        app._videoflix_request_context = True  # type: ignore[attr-defined]
    return app


# ---------------------------------------------------------------------- set-up


def setup(service: str) -> bool:
    """Once per process, before its database engines and apps are made: when
    OTEL_EXPORTER_OTLP_ENDPOINT is set, an SDK tracer provider exporting over OTLP/HTTP, and
    the instrumentation (`enable`). Otherwise nothing: returns whether tracing is on."""
    if _provider is not None:
        return True
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or f"videoflix-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    enable(provider)
    log.info("tracing: exporting spans over OTLP as %s", name)
    return True


def enable(provider: TracerProvider) -> None:
    """Record spans with `provider` (tests pass one with an in-memory exporter): our bus
    spans, and the httpx, aio-pika and SQLAlchemy instrumentation. Apps get theirs from
    `instrument_app`."""
    global _provider, _tracer
    from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    _provider, _tracer = provider, provider.get_tracer("videoflix")
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    AioPikaInstrumentor().instrument(tracer_provider=provider)
    # Its declared range stops below SQLAlchemy 2.1, which it instruments all the same (checked:
    # connect and query spans on 2.1.9); common.db looks the engine factory up at call time.
    SQLAlchemyInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)


def disable() -> None:
    """Undo `enable` (for tests): no more spans, the libraries uninstrumented."""
    global _provider, _tracer
    from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    AioPikaInstrumentor().uninstrument()
    SQLAlchemyInstrumentor().uninstrument()
    _provider = _tracer = None
