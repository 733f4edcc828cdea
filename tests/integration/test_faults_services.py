"""Faults of the platform's own services in the distributed wiring (every service its own
process, over the real PostgreSQL, RabbitMQ, Redis and S3 server): a service is really stopped
(SIGTERM) or killed (SIGKILL) and started again, which is what an orchestrator does to it."""

from __future__ import annotations

import asyncio
import collections

import pytest

from tests.support.faults import (
    StackEnv,
    browser,
    mail_counts,
    quiet,
    register,
    timed,
)
from tests.support.http import assert_json_error
from tests.support.integration import ADMIN_EMAIL, ADMIN_PASSWORD, ORIGIN, Stack

pytestmark = pytest.mark.integration
LIMIT = 60  # seconds: each scenario, once the stack runs


@pytest.fixture
def stack_env() -> StackEnv:
    return lambda _service, _env: {}


async def test_catalog_down_behind_the_gateway(stack: Stack) -> None:
    """503 JSON at once while catalog is down, for reads and uploads; the same gateway process
    serves again as soon as catalog is back."""
    gateway = stack.processes["gateway"].process
    catalog = stack.processes["catalog"]
    async with asyncio.timeout(LIMIT), browser(stack.gateway_url, ORIGIN) as client:
        login = await client.post(
            "/api/login/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        assert (await client.get("/api/video/")).status_code == 200

        await asyncio.to_thread(catalog.stop)
        statuses: collections.Counter[int] = collections.Counter()
        for _ in range(5):
            listed, took = await timed(client.get("/api/video/"))
            assert_json_error(listed, 503, detail=True)
            assert took < 2, f"a down catalog took {took:.1f}s to be reported"
            statuses[listed.status_code] += 1
        upload, took = await timed(
            client.post(
                "/api/admin/videos/",
                data={"title": "t", "description": "d", "category": "c"},
                files={"file": ("a.mp4", b"\x00" * 4096, "video/mp4")},
            )
        )
        assert_json_error(upload, 503, detail=True)
        assert took < 2
        # what does not need catalog still works
        assert (await client.post("/api/token/refresh/")).status_code == 200

        await asyncio.to_thread(catalog.start)
        await asyncio.to_thread(catalog.wait_ready)
        listed = await client.get("/api/video/")
        assert listed.status_code == 200 and listed.json() == []
        assert gateway is not None and gateway.poll() is None  # never restarted
        assert gateway.pid == stack.processes["gateway"].process.pid  # type: ignore[union-attr]
        assert statuses == {503: 5}


async def test_mailer_down_while_people_register(stack: Stack) -> None:
    """Mail requests wait in the broker while the mailer is down; each person gets their mail,
    once, when it is back."""
    mailer = stack.processes["mailer"]
    people = [f"waiting{i}@example.com" for i in range(4)]
    async with asyncio.timeout(LIMIT), browser(stack.gateway_url, ORIGIN) as client:
        await asyncio.to_thread(mailer.stop)
        for email in people:
            assert (await register(client, email)).status_code == 201
        reset = await client.post("/api/password_reset/", json={"email": ADMIN_EMAIL})
        assert reset.status_code == 200
        assert stack.smtp.messages == []

        await asyncio.to_thread(mailer.start)
        for email in [*people, ADMIN_EMAIL]:
            await stack.mails_to(email, 1)
        await quiet(lambda: len(stack.smtp.messages))
        assert mail_counts(stack) == {email: 1 for email in [*people, ADMIN_EMAIL]}
