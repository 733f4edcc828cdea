"""Logins never block streams: password hashes run off the event loop, in a bounded pool
(`identity.passwords.HashingPool`), and a burst beyond the pool and its backlog is answered
429 with `Retry-After` instead of piling up. No timings are asserted in absolute terms: the
event loop's lag is compared with the time of one hash measured in the same test."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from common.config import Settings
from identity import passwords
from tests.support.platform import ORIGIN, Platform, make_settings

PASSWORD = "correct horse battery"
OWNER = "owner@example.com"


@pytest.fixture
def platform_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    overrides = getattr(request, "param", {})
    return make_settings(tmp_path, rate_limit_login=1000, rate_limit_register=1000, **overrides)


def pool_of(**settings: int) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("platform_settings", [settings], indirect=True)


async def activated(platform: Platform, email: str) -> None:
    body = {"email": email, "password": PASSWORD, "confirmed_password": PASSWORD}
    assert (await platform.client.post("/api/register/", json=body)).status_code == 201
    (mail,) = await platform.outbox.wait_for(email)
    uid, token = mail.uid_and_token()
    assert (await platform.client.get(f"/api/activate/{uid}/{token}/")).status_code == 200


async def login(client: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/login/", json={"email": OWNER, "password": password})


def assert_logged_in(response: httpx.Response) -> None:
    """The contract's answer to a login, unchanged."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["detail"] == "Login successful" and set(body) == {"detail", "user"}
    assert body["user"]["username"] == OWNER and isinstance(body["user"]["id"], int)
    assert {"access_token", "refresh_token", "csrftoken"} <= set(response.cookies)


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def heartbeat(stop: asyncio.Event, lags: list[float], period: float = 0.01) -> None:
    """How late the event loop wakes a task that sleeps `period`, again and again."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(time.perf_counter() - started - period)


async def test_logins_hashing_continuously_do_not_stall_the_event_loop(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a costlier hash than the default widens the gap between "blocked" and "not blocked"
    # while the rest of a login's work on the loop stays the same
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=20))
    await activated(platform, OWNER)
    assert_logged_in(await login(platform.client))  # warm: first-use costs are not at issue
    started = time.perf_counter()
    passwords.hash_password(PASSWORD)
    one_hash = time.perf_counter() - started

    stop, lags = asyncio.Event(), list[float]()
    beat = asyncio.create_task(heartbeat(stop, lags))

    async def logging_in() -> None:
        for _ in range(2):
            assert_logged_in(await login(platform.client))

    try:
        await asyncio.gather(logging_in(), logging_in())
    finally:
        stop.set()
        await beat
    assert len(lags) >= 10
    assert max(lags) < one_hash / 2, (max(lags), one_hash)


@pool_of(password_hash_concurrency=2, password_hash_queue=16)
async def test_no_more_hashes_at_once_than_the_pool_has_workers(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    await activated(platform, OWNER)
    lock, running, peak, threads = threading.Lock(), [0], [0], set[int]()
    real = passwords.verify_password

    def counted(password_hash: str | None, password: str) -> bool:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            threads.add(threading.get_ident())
        try:
            time.sleep(0.05)  # long enough for the logins to overlap
            return real(password_hash, password)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(passwords, "verify_password", counted)
    answers = await asyncio.gather(*(login(platform.client) for _ in range(8)))
    for answer in answers:
        assert_logged_in(answer)
    assert peak[0] == 2
    assert threading.get_ident() not in threads  # never on the event loop's thread


@pool_of(password_hash_concurrency=1, password_hash_queue=1)
async def test_a_burst_beyond_the_pool_and_its_backlog_gets_429_with_retry_after(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    await activated(platform, OWNER)
    pool = passwords.hashing_pool(platform.settings)
    gate = threading.Event()
    real = passwords.verify_password

    def held(password_hash: str | None, password: str) -> bool:
        gate.wait(timeout=30)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", held)
    try:
        admitted = [asyncio.create_task(login(platform.client)) for _ in range(2)]
        await until(lambda: pool.admitted == 2)  # one hashing, one waiting

        refused = await asyncio.gather(*(login(platform.client) for _ in range(3)))
        body = {"email": "new@example.com", "password": PASSWORD, "confirmed_password": PASSWORD}
        refused.append(await platform.client.post("/api/register/", json=body))
        for response in refused:
            assert response.status_code == 429, response.text
            assert set(response.json()) == {"detail"}
            assert isinstance(response.json()["detail"], str)
            assert int(response.headers["retry-after"]) >= 1
            assert response.headers["access-control-allow-origin"] == ORIGIN
            assert "access_token" not in response.cookies
    finally:
        gate.set()
    for answer in await asyncio.gather(*admitted):
        assert_logged_in(answer)
    await until(lambda: pool.admitted == 0)
    # the refusals did not count as failed logins, and the pool takes work again
    assert_logged_in(await login(platform.client))
    assert (await login(platform.client, "wrong horse battery")).status_code == 401


async def test_a_cancelled_caller_keeps_its_slot_until_its_hash_has_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = passwords.HashingPool(workers=1, backlog=0)
    gate = threading.Event()
    monkeypatch.setattr(passwords, "hash_password", lambda password: str(gate.wait(10)))
    caller = asyncio.create_task(pool.hash(PASSWORD))
    await until(lambda: pool.admitted == 1)
    caller.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await caller
    with pytest.raises(passwords.HashingBusy):  # the thread still hashes
        await pool.hash(PASSWORD)
    gate.set()
    await until(lambda: pool.admitted == 0)
    assert await pool.hash(PASSWORD) == "True"
