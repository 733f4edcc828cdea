"""Sliding-window rate limits per client address on login, register and password reset."""

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
    # the three and the refused fourth weigh on the next window too: at most two windows
    assert 1 <= int(response.headers["retry-after"]) <= 120


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


def limiter_at(now: list[float], limit: int) -> RateLimiter:
    return RateLimiter(
        InMemoryKeyValueStore(), limits={"login": limit}, window_seconds=60, clock=lambda: now[0]
    )


async def refused(limiter: RateLimiter) -> ApiError | None:
    try:
        await limiter.hit("login", "1.2.3.4")
    except ApiError as error:
        assert error.status_code == 429
        return error
    return None


async def test_the_window_slides() -> None:
    now = [1000.0]  # 40 s into a window
    limiter = limiter_at(now, 2)
    assert await refused(limiter) is None
    assert await refused(limiter) is None
    error = await refused(limiter)
    assert error is not None
    # three counted at 1000: one more passes when 1 + 3 * (1 - into / 60) <= 2, i.e. 40 s
    # into the next window (1020 + 40)
    assert error.headers == {"Retry-After": "60"}
    now[0] = 1021.0  # a new window, but the last minute still holds three
    assert await refused(limiter) is not None
    now[0] = 1200.0  # long after: nothing of it is left
    assert await refused(limiter) is None


async def test_a_burst_across_a_window_boundary_is_refused() -> None:
    """A fixed window let the limit through at the end of one window and again at the start
    of the next: twenty logins in two seconds."""
    now = [1079.0]
    limiter = limiter_at(now, 10)
    for _ in range(10):
        assert await refused(limiter) is None
    now[0] = 1081.0
    assert await refused(limiter) is not None


@pytest.mark.parametrize(
    ("limit", "history"),
    [
        (2, [1000.0] * 3),  # refused in the window they came in
        (10, [1079.0] * 10 + [1081.0]),  # refused across a boundary
        (4, [1010.0] * 4 + [1070.0] * 3 + [1075.0]),
        (10, [1000.0] * 30),  # hammering: the refused ones count too
    ],
)
async def test_retry_after_is_when_one_more_passes(limit: int, history: list[float]) -> None:
    async def replay(probe: float) -> tuple[ApiError | None, ApiError | None]:
        now = [history[0]]
        limiter = limiter_at(now, limit)
        last = None
        for moment in history:
            now[0] = moment
            last = await refused(limiter)
        now[0] = probe
        return last, await refused(limiter)

    last, _ = await replay(history[-1])
    assert last is not None, "the history ends refused"
    wait = int(last.headers["Retry-After"])
    assert (await replay(history[-1] + wait))[1] is None
    assert (await replay(history[-1] + wait - 1))[1] is not None


async def test_counter_store_down_fails_open() -> None:
    class Broken(InMemoryKeyValueStore):
        async def incr(self, key: str, *, ttl_seconds: float | None = None) -> int:
            raise ConnectionError("down")

    limiter = RateLimiter(Broken(), limits={"login": 1}, window_seconds=60)
    for _ in range(3):
        await limiter.hit("login", "1.2.3.4")


async def test_a_client_address_with_braces_is_limited_too() -> None:
    """The key once went through str.format: "{0}" raised, the fail-open swallowed it."""
    now = [1000.0]
    limiter = RateLimiter(
        InMemoryKeyValueStore(), limits={"login": 2}, window_seconds=60, clock=lambda: now[0]
    )
    outcomes = []
    for _ in range(3):
        try:
            await limiter.hit("login", "{0}")
            outcomes.append(200)
        except ApiError as error:
            outcomes.append(error.status_code)
    assert outcomes == [200, 200, 429]
