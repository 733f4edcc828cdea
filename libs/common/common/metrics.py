"""Prometheus metrics: every metric the platform exposes, defined once, and their listener.

This module knows no HTTP framework, so use cases may count here; the ASGI middleware that
feeds the HTTP histogram is `common.httpmetrics`. Metrics are served on a listener of their
own (METRICS_PORT), never through an app, so the public gateway cannot proxy them: in the
distributed wiring each service binds its own (off while METRICS_PORT is unset, since several
services on one machine would share a default port); the all-in-one binds one for the whole
process on 127.0.0.1 (9464 unless set). METRICS_PORT=0 (or empty) turns it off in both.

Names follow Prometheus' conventions; the HTTP histogram follows OpenTelemetry's
`http.server.request.duration` (seconds, labelled by method, route template and status), plus
the service that answered, since the all-in-one serves several apps in one process.
deploy/prometheus and deploy/grafana use these names, and a test holds them to this module.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import disable_created_metrics
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
_Handler = TypeVar("_Handler", bound=Callable[..., Coroutine[Any, Any, Any]])

ALLINONE_DEFAULT_PORT = 9464
SCRAPE_QUERY_TIMEOUT = 2.0  # seconds a scrape waits for a gauge computed from a database

# no `_created` series beside every counter and histogram
disable_created_metrics()  # type: ignore[no-untyped-call]

# ---------------------------------------------------------------------- HTTP servers

# OpenTelemetry's advice for http.server.request.duration
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})

HTTP_SERVER_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests, to the last byte of the answer.",
    ["service", "http_request_method", "http_route", "http_response_status_code"],
    buckets=HTTP_BUCKETS,
)

# ---------------------------------------------------------------------- domain

TRANSCODE_JOBS = Counter(
    "videoflix_transcode_jobs",
    "Transcode jobs finished, by outcome: succeeded, failed (the file's fault), abandoned "
    "(video deleted meanwhile), error (retried by the bus).",
    ["outcome"],
)
TRANSCODE_DURATION = Histogram(
    "videoflix_transcode_duration_seconds",
    "Wall time of a successful transcode.",
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
TRANSCODE_REALTIME_FACTOR = Histogram(
    "videoflix_transcode_realtime_factor",
    "Seconds of video transcoded per second of wall time, per successful job.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
TRANSCODES_IN_PROGRESS = Gauge(
    "videoflix_transcode_jobs_in_progress", "Transcode jobs this process is working on."
)
UPLOAD_BYTES = Counter("videoflix_upload_bytes", "Bytes of video sources uploaded and stored.")
SEGMENT_BYTES = Counter(
    "videoflix_segment_bytes", "Bytes of HLS media segments sent to players by the catalog."
)
BUS_DEAD_LETTERS = Counter(
    "videoflix_bus_dead_letters",
    "Messages this process parked in a queue's dead letters (retries exhausted or refused).",
    ["queue"],
)
MAIL_SENT = Counter(
    "videoflix_mail_sent",
    "Mails handed to the sender, by kind and outcome: sent, failed (retried by the bus), "
    "duplicate (already sent; skipped).",
    ["kind", "outcome"],
)
LOGIN_ATTEMPTS = Counter(
    "videoflix_login_attempts",
    "Logins, by outcome: succeeded, invalid_credentials, inactive, throttled.",
    ["outcome"],
)

OUTBOX_PENDING = "videoflix_outbox_pending"
OUTBOX_OLDEST_AGE = "videoflix_outbox_oldest_age_seconds"


def transcode_finished(
    outcome: str, *, seconds: float | None = None, media_seconds: float | None = None
) -> None:
    """One job done; a successful one also gives its wall time and the video's length."""
    TRANSCODE_JOBS.labels(outcome=outcome).inc()
    if seconds is not None:
        TRANSCODE_DURATION.observe(seconds)
        if media_seconds and seconds > 0:
            TRANSCODE_REALTIME_FACTOR.observe(media_seconds / seconds)


def in_progress(gauge: Gauge) -> Callable[[_Handler], _Handler]:
    """Decorate an async handler: `gauge` counts the calls under way."""

    def decorate(handler: _Handler) -> _Handler:
        @functools.wraps(handler)
        async def tracked(*args: Any, **kwargs: Any) -> Any:
            with gauge.track_inprogress():
                return await handler(*args, **kwargs)

        return cast(_Handler, tracked)

    return decorate


def mail_sent(kind: str, outcome: str) -> None:
    MAIL_SENT.labels(kind=kind, outcome=outcome).inc()


def login_attempt(outcome: str) -> None:
    LOGIN_ATTEMPTS.labels(outcome=outcome).inc()


def dead_lettered(queue: str) -> None:
    BUS_DEAD_LETTERS.labels(queue=queue).inc()


def upload_stored(size: int) -> None:
    UPLOAD_BYTES.inc(size)


# ---------------------------------------------------------------------- the outbox gauges

OutboxBacklog = Callable[[], Coroutine[Any, Any, tuple[int, datetime | None]]]
"""How many outbox rows wait, and when the oldest of them was written."""


class OutboxCollector(Collector):
    """`videoflix_outbox_pending` and `..._oldest_age_seconds`, per database, computed at
    scrape time: the scraping thread runs each watched backlog query on its database's event
    loop. A database that does not answer within SCRAPE_QUERY_TIMEOUT is left out."""

    def __init__(self) -> None:
        self._watched: dict[str, tuple[asyncio.AbstractEventLoop, OutboxBacklog]] = {}

    def watch(self, database: str, backlog: OutboxBacklog) -> Callable[[], None]:
        """Watch from the running loop on; returns what stops watching."""
        entry = (asyncio.get_running_loop(), backlog)
        self._watched[database] = entry

        def unwatch() -> None:
            if self._watched.get(database) is entry:
                del self._watched[database]

        return unwatch

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pending, oldest = self._families()
        now = datetime.now(UTC)
        for database, (loop, backlog) in list(self._watched.items()):
            found = _run_on(loop, backlog)
            if found is None:
                continue
            count, first = found
            pending.add_metric([database], count)
            if first is not None and first.tzinfo is None:
                first = first.replace(tzinfo=UTC)  # SQLite keeps naive UTC
            age = max((now - first).total_seconds(), 0.0) if first is not None else 0.0
            oldest.add_metric([database], age)
        return [pending, oldest]

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                OUTBOX_PENDING,
                "Events written to the outbox, not yet published.",
                labels=["database"],
            ),
            GaugeMetricFamily(
                OUTBOX_OLDEST_AGE,
                "Age of the oldest unpublished outbox event (0 when none waits).",
                labels=["database"],
            ),
        )


def _run_on(
    loop: asyncio.AbstractEventLoop, backlog: OutboxBacklog
) -> tuple[int, datetime | None] | None:
    if loop.is_closed():
        return None
    try:
        if asyncio.get_running_loop() is loop:
            return None  # scraped from the loop itself (a test): waiting would deadlock
    except RuntimeError:
        pass
    future = asyncio.run_coroutine_threadsafe(backlog(), loop)
    try:
        return future.result(timeout=SCRAPE_QUERY_TIMEOUT)
    except Exception as exc:
        future.cancel()
        log.debug("outbox backlog unavailable: %r", exc)
        return None


OUTBOX = OutboxCollector()
REGISTRY.register(OUTBOX)


def watch_outbox(database_url: str, backlog: OutboxBacklog) -> Callable[[], None]:
    """Expose the backlog of the outbox in the database at `database_url`, labelled with the
    database's name (its file's stem for SQLite); returns what stops it."""
    from sqlalchemy.engine import make_url

    name = make_url(database_url).database or "default"
    return OUTBOX.watch(name.rsplit("/", 1)[-1].split(".", 1)[0], backlog)


# ---------------------------------------------------------------------- the listener


@dataclass
class MetricsListener:
    server: WSGIServer
    host: str
    port: int

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_listener(host: str, port: int) -> MetricsListener:
    """Serve every metric at http://host:port/metrics (any path, in fact) from a daemon
    thread; port 0 takes a free one. Raises OSError when the port cannot be bound."""
    server, _thread = start_http_server(port, addr=host)
    return MetricsListener(server, host, server.server_port)


def listener_port(configured: int | None, *, allinone: bool) -> int | None:
    """The port METRICS_PORT asks for: None when the listener is off."""
    if configured is None:
        return ALLINONE_DEFAULT_PORT if allinone else None
    return configured or None


def serve_metrics(configured: int | None, host: str, *, allinone: bool) -> MetricsListener | None:
    """Start the process's listener as configured. In the distributed wiring a port that
    cannot be bound is fatal (the operator asked for it); the all-in-one, a development
    tool, carries on without metrics and says so."""
    port = listener_port(configured, allinone=allinone)
    if port is None:
        return None
    try:
        listener = start_listener(host, port)
    except OSError as exc:
        if not allinone:
            raise
        log.warning("metrics are off: cannot listen on %s:%d (%s)", host, port, exc)
        return None
    log.info("metrics on http://%s:%d/metrics", host, listener.port)
    return listener


def metric_names() -> Iterator[str]:
    """The name of every series family this module defines (with `_total` for counters)."""
    for metric in (
        HTTP_SERVER_DURATION,
        TRANSCODE_JOBS,
        TRANSCODE_DURATION,
        TRANSCODE_REALTIME_FACTOR,
        TRANSCODES_IN_PROGRESS,
        UPLOAD_BYTES,
        SEGMENT_BYTES,
        BUS_DEAD_LETTERS,
        MAIL_SENT,
        LOGIN_ATTEMPTS,
    ):
        for family in metric.describe():
            yield family.name + ("_total" if family.type == "counter" else "")
    yield OUTBOX_PENDING
    yield OUTBOX_OLDEST_AGE
