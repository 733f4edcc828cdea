"""RabbitMQ gone for 10 s in the middle of a transcode and of sign-ups.

Every service reaches the shared broker through a `FaultProxy` (tests/support/faults.py):
`cut()` is the broker going down for them (connections reset, reconnects refused); what was
durable stays in the broker, and what the lost connections had not acknowledged goes back to
its queue, as after a real broker restart. The services must reconnect by themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.faults import (
    FaultProxy,
    StackEnv,
    browser,
    fault_proxy,
    mail_counts,
    quiet,
    register,
)
from tests.support.integration import ADMIN_EMAIL, ADMIN_PASSWORD, ORIGIN, Stack
from tests.support.media import make_clip
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
LIMIT = 150  # a real transcode on a shared machine, plus the outage
OUTAGE_SECONDS = 10.0


@pytest.fixture
def rabbit_proxy(rabbitmq_url: str) -> Iterator[FaultProxy]:
    with fault_proxy(rabbitmq_url, name="rabbitmq") as proxy:
        yield proxy


@pytest.fixture
def stack_env(rabbit_proxy: FaultProxy) -> StackEnv:
    return lambda _service, current: {"RABBITMQ_URL": rabbit_proxy.url(current["RABBITMQ_URL"])}


async def admin_upload(client: httpx.AsyncClient, clip: Path) -> int:
    login = await client.post(
        "/api/login/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 200, login.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    with clip.open("rb") as fh:
        created = await client.post(
            "/api/admin/videos/",
            data={"title": "Storm", "description": "Through it", "category": "Weather"},
            files={"file": (clip.name, fh, "video/mp4")},
            timeout=60,
        )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def test_broker_down_during_transcode_and_sign_ups(
    stack: Stack, rabbit_proxy: FaultProxy, tmp_path: Path
) -> None:
    clip = await asyncio.to_thread(make_clip, tmp_path / "storm.mp4", size="1280x720", seconds=6)
    pids = {name: p.process.pid for name, p in stack.processes.items() if p.process}
    before = [f"early{i}@example.com" for i in range(2)]
    during = [f"outage{i}@example.com" for i in range(3)]
    progress: list[int] = []
    async with asyncio.timeout(LIMIT), browser(stack.gateway_url, ORIGIN) as client:
        video_id = await admin_upload(client, clip)

        async def detail() -> dict:  # type: ignore[type-arg]
            body = (await client.get(f"/api/admin/videos/{video_id}/")).json()
            assert body["status"] != "failed", body
            progress.append(body["progress"])
            return body

        await eventually(detail, lambda b: b["progress"] > 0, within=60, interval=0.2)
        for email in before:
            assert (await register(client, email)).status_code == 201

        rabbit_proxy.cut()
        cut_at = time.monotonic()
        for email in during:  # the outbox keeps them; the answer does not wait for the broker
            assert (await register(client, email)).status_code == 201
        reset = await client.post("/api/password_reset/", json={"email": ADMIN_EMAIL})
        assert reset.status_code == 200
        assert (await client.get("/api/video/")).status_code == 200
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - cut_at)))
        rabbit_proxy.restore()

        ready = await eventually(
            detail,
            lambda b: b["status"] == "ready",
            within=LIMIT - 30,
            interval=0.5,
            failure=lambda b: f"video not ready after the outage: {b}",
        )
        assert ready["renditions"] and ready["error"] is None
        for email in [*before, *during, ADMIN_EMAIL]:
            await stack.mails_to(email, 1, timeout=30)
        await quiet(lambda: len(stack.smtp.messages), for_seconds=3)
        assert mail_counts(stack) == {e: 1 for e in [*before, *during, ADMIN_EMAIL]}

        # every service is back on the broker by itself: same processes, ready again
        for name, process in stack.processes.items():
            assert process.process and process.process.pid == pids[name], name
            assert process.process.poll() is None, name
            await asyncio.to_thread(process.wait_ready, 30)
    assert progress == sorted(progress)  # progress never went back
    catalog_log = stack.processes["catalog"].log_path.read_text(errors="replace")
    assert catalog_log.count("video ready") == 1  # the result took effect once
