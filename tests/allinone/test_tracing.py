"""One upload followed to `ready` across the five services of the all-in-one wiring: one
request id and one trace id on the log lines of each, and (with an in-memory span exporter)
the parent chain across the bus: gateway request -> catalog request -> outbox publish ->
transcoder consume -> catalog result consume.

The client names its trace (`traceparent`) and request id on every request of the journey
(sign-up, which brings identity and the mailer in; admin login; the upload; polling until
ready), as a browser with a trace of its own would.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from common import tracing
from common.logging import RequestContextFilter
from tests.support.media import make_clip
from tests.support.platform import BASE_URL, ORIGIN, make_settings
from tests.support.waiting import eventually

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
JOURNEY = {
    "X-Request-ID": "upload-journey-1",
    "traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01",
}
SERVICES = ("gateway", "identity", "catalog", "transcoder", "mailer")
PASSWORD = "correct horse battery staple 42"


class Trail(logging.Handler):
    """Every log record's logger, request id and trace id, as `common.logging` names them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RequestContextFilter())
        self.lines: list[tuple[str, str | None, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, record.request_id, record.trace_id))  # type: ignore[attr-defined]

    def services_with(self, request_id: str, trace_id: str) -> set[str]:
        return {
            name.split(".")[0]
            for name, rid, tid in self.lines
            if (rid, tid) == (request_id, trace_id) and name.split(".")[0] in SERVICES
        }


@pytest.fixture
def trail() -> Iterator[Trail]:
    handler = Trail()
    root, proxy = logging.getLogger(), logging.getLogger("gateway.proxy")
    levels = root.level, proxy.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    proxy.setLevel(logging.DEBUG)  # the gateway's own line per proxied request
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        proxy.setLevel(levels[1])


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)  # before the apps and engines are built
    try:
        yield exporter
    finally:
        tracing.disable()


def ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    chain: list[ReadableSpan] = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def descends(child: ReadableSpan, parent: ReadableSpan, spans: Sequence[ReadableSpan]) -> bool:
    return any(a is parent for a in ancestors(child, spans))


async def test_one_upload_is_followed_to_ready_across_all_five_services(
    tmp_path: Path, trail: Trail, spans: InMemorySpanExporter
) -> None:
    from allinone.app import build_app

    clip = make_clip(tmp_path / "clip.mp4", size="160x120", seconds=1.0)
    settings = make_settings(tmp_path)
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers={"Origin": ORIGIN, **JOURNEY}
        ) as client:
            body = {"email": "ada@example.com", "password": PASSWORD}
            registered = await client.post(
                "/api/register/", json={**body, "confirmed_password": PASSWORD}
            )
            assert registered.status_code == 201, registered.text
            assert registered.headers["x-request-id"] == "upload-journey-1"
            login = await client.post(
                "/api/login/",
                json={"email": settings.admin_email, "password": settings.admin_password},
            )
            assert login.status_code == 200, login.text
            admin = {"X-CSRFToken": login.cookies["csrftoken"]}  # with the session's cookies
            uploaded = await client.post(
                "/api/admin/videos/",
                headers=admin,
                data={"title": "Clip", "description": "A test clip", "category": "Tests"},
                files={"file": ("clip.mp4", clip.read_bytes(), "video/mp4")},
            )
            assert uploaded.status_code == 201, uploaded.text
            assert uploaded.headers["x-request-id"] == "upload-journey-1"
            video = uploaded.json()["id"]

            async def status() -> str:
                answer = await client.get(f"/api/admin/videos/{video}/", headers=admin)
                return str(answer.json()["status"])

            await eventually(status, lambda s: s != "processing", within=120, interval=0.2)
            assert await status() == "ready"
            # the mail goes out in the mailer's own time
            await eventually(
                lambda: trail.services_with("upload-journey-1", TRACE_ID),
                lambda found: set(SERVICES) <= found,
                within=10,
                failure=lambda found: f"only {sorted(found)} logged under the journey's ids",
            )

            # an answer without a request id of the client's names the one made for it
            fresh = await client.get("/healthz", headers={"X-Request-ID": "bad id!"})
            assert fresh.headers["x-request-id"] not in ("", "bad id!", "upload-journey-1")

    finished = spans.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in finished if s.context} >= {TRACE_ID}
    journey = [s for s in finished if s.context and format(s.context.trace_id, "032x") == TRACE_ID]
    servers = [s for s in journey if s.kind is SpanKind.SERVER and s.name.startswith("POST")]
    publish = next(
        s for s in journey if s.name == "publish video.uploaded" and s.kind is SpanKind.PRODUCER
    )
    transcode = next(s for s in journey if s.name == "process video.uploaded")
    result = next(s for s in journey if s.name == "process video.transcoded")
    # the catalog's request span, and the gateway's request span above it
    catalog_request = next(s for s in ancestors(publish, journey) if s in servers)
    gateway_request = next(s for s in ancestors(catalog_request, journey) if s in servers)
    assert "/api/admin/videos" in catalog_request.name, catalog_request.name
    assert "/api/admin/videos" in gateway_request.name, gateway_request.name
    assert descends(transcode, publish, journey)
    assert descends(result, transcode, journey)
    assert transcode.kind is SpanKind.CONSUMER and result.kind is SpanKind.CONSUMER
