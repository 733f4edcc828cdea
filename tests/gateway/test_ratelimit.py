"""Fixed-window rate limits per client address on login, register and password reset."""

from __future__ import annotations

from typing import Any

import pytest

from common.errors import ApiError
from common.kv.memory import InMemoryKeyValueStore
from gateway.ratelimit import RateLimiter
from tests.support.http import assert_json_error

LIMITED = ["/api/login/", "/api/register/", "/api/password_reset/"]


@pytest.mark.parametrize("path", LIMITED)
async def test_429_after_the_limit(gateway_factory: Any, path: str) -> None:
    async with gateway_factory() as client:  # limits are 3 per minute in the test settings
        for _ in range(3):
            assert (await client.post(path, json={})).status_code == 200
        response = await client.post(path, json={})
    assert_json_error(response, 429, detail=True)
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_slash_and_no_slash_share_a_bucket(gateway_factory: Any) -> None:
    async with gateway_factory() as client:
        for path in ("/api/login/", "/api/login", "/api/login/"):
            assert (await client.post(path, json={})).status_code == 200
        assert_json_error(await client.post("/api/login", json={}), 429, detail=True)


async def test_buckets_are_separate(gateway_factory: Any) -> None:
    async with gateway_factory() as client:
        for _ in range(4):
            await client.post("/api/login/", json={})
        assert (await client.post("/api/register/", json={})).status_code == 200
        assert (await client.post("/api/token/refresh/")).status_code == 200


async def test_forwarded_for_does_not_escape_the_limit(gateway_factory: Any) -> None:
    async with gateway_factory() as client:
        statuses = [
            (
                await client.post(
                    "/api/login/", json={}, headers={"X-Forwarded-For": f"10.0.0.{i}"}
                )
            ).status_code
            for i in range(5)
        ]
    assert statuses == [200, 200, 200, 429, 429]


async def test_clients_are_counted_apart(gateway_factory: Any) -> None:
    async with gateway_factory(client_addr=("10.1.1.1", 1)) as first:
        for _ in range(4):
            await first.post("/api/login/", json={})
        assert (await first.post("/api/login/", json={})).status_code == 429
    async with gateway_factory(client_addr=("10.1.1.2", 1)) as second:
        assert (await second.post("/api/login/", json={})).status_code == 200


async def test_window_rolls_over() -> None:
    now = [1000.0]
    limiter = RateLimiter(
        InMemoryKeyValueStore(), limits={"login": 2}, window_seconds=60, clock=lambda: now[0]
    )
    await limiter.hit("login", "1.2.3.4")
    await limiter.hit("login", "1.2.3.4")
    with pytest.raises(ApiError) as raised:
        await limiter.hit("login", "1.2.3.4")
    assert raised.value.status_code == 429
    assert raised.value.headers == {"Retry-After": "20"}  # the window ends at 1020
    now[0] = 1021.0
    await limiter.hit("login", "1.2.3.4")


async def test_counter_store_down_fails_open() -> None:
    class Broken(InMemoryKeyValueStore):
        async def incr(self, key: str, *, ttl_seconds: float | None = None) -> int:
            raise ConnectionError("down")

    limiter = RateLimiter(Broken(), limits={"login": 1}, window_seconds=60)
    for _ in range(3):
        await limiter.hit("login", "1.2.3.4")
