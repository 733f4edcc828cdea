"""PostgreSQL going away under identity and catalog, and coming back.

Identity and catalog reach the shared PostgreSQL server through a `FaultProxy` (tests/support/
faults.py); `cut()` is the server going down for them: their pooled connections reset, new
ones refused, every transaction open on a lost connection rolled back by the server itself,
as a restart does. The server really stays up for everyone else, and for this test to look
into the databases directly (nothing half-written) while the services cannot.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator

import asyncpg
import pytest

from tests.support.faults import (
    FaultProxy,
    StackEnv,
    browser,
    fault_proxy,
    mail_counts,
    quiet,
    register,
    timed,
)
from tests.support.http import assert_json_error
from tests.support.integration import ADMIN_EMAIL, ADMIN_PASSWORD, ORIGIN, Stack

pytestmark = pytest.mark.integration
LIMIT = 60
QUICK = 5.0  # seconds: an answer while the database is down comes at once, not after a hang


@pytest.fixture
def pg_proxy(postgres_server_url: str) -> Iterator[FaultProxy]:
    with fault_proxy(postgres_server_url, name="postgresql") as proxy:
        yield proxy


@pytest.fixture
def stack_env(pg_proxy: FaultProxy) -> StackEnv:
    def env(service: str, current: dict[str, str]) -> dict[str, str]:
        if service in {"identity", "catalog"}:
            return {"DATABASE_URL": pg_proxy.url(current["DATABASE_URL"])}
        return {}

    return env


async def test_postgres_down_answers_503_then_recovers(stack: Stack, pg_proxy: FaultProxy) -> None:
    identity_db = stack.processes["identity"].env["DATABASE_URL"]
    direct = identity_db.replace(f"127.0.0.1:{pg_proxy.port}", "{}:{}".format(*pg_proxy.target))
    statuses: collections.Counter[int] = collections.Counter()
    newcomer = "during-outage@example.com"
    async with asyncio.timeout(LIMIT), browser(stack.gateway_url, ORIGIN) as client:
        login = await client.post(
            "/api/login/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        assert (await client.get("/api/video/")).status_code == 200

        pg_proxy.cut()
        for request in (
            lambda: register(client, newcomer),
            lambda: client.post("/api/login/", json={"email": ADMIN_EMAIL, "password": "x" * 9}),
            lambda: client.get("/api/admin/videos/"),
        ):
            for _ in range(2):
                response, took = await timed(request())
                statuses[response.status_code] += 1
                assert_json_error(response, 503)
                assert response.headers["retry-after"].isdigit()
                assert took < QUICK, f"{response.request.url} took {took:.1f}s"
        # the public list may still come from catalog's cache in Redis; never a 500
        listed, took = await timed(client.get("/api/video/"))
        assert listed.status_code in {200, 503} and took < QUICK, listed.text
        statuses[listed.status_code] += 1
        # nothing half-written: the refused registration left no account and no mail event
        conn = await asyncpg.connect(direct)
        try:
            assert await conn.fetchval("SELECT count(*) FROM users WHERE email = $1", newcomer) == 0
        finally:
            await conn.close()

        pg_proxy.restore()
        # the same processes serve again, without a restart
        assert (await register(client, newcomer)).status_code == 201
        assert (await client.get("/api/video/")).status_code == 200
        await stack.mails_to(newcomer, 1)
        await quiet(lambda: len(stack.smtp.messages))
        assert mail_counts(stack)[newcomer] == 1
        conn = await asyncpg.connect(direct)
        try:
            assert await conn.fetchval("SELECT count(*) FROM users WHERE email = $1", newcomer) == 1
        finally:
            await conn.close()
    assert statuses[503] >= 6 and set(statuses) <= {200, 503}, statuses
    assert all(p.process and p.process.poll() is None for p in stack.processes.values())
