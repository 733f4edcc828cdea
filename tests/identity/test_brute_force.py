"""Guessing passwords and bombing mailboxes: failed logins are limited per account (per client
address, and more loosely over every address, without locking the owner out), and activation
and reset mails per recipient. A 429 is JSON with `Retry-After`; a mail over its quota is not
sent, and the answer does not change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from common.config import Settings
from tests.support.platform import BASE_URL, ORIGIN, Platform, make_settings

PASSWORD = "correct horse battery"
WRONG = "wrong horse battery"
OWNER = "owner@example.com"


@pytest.fixture
def platform_settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        rate_limit_login=1000,  # the gateway's per-address limit stays out of the way
        rate_limit_register=1000,
        rate_limit_password_reset=1000,
        rate_limit_login_failures=3,
        rate_limit_login_failures_account=8,
        rate_limit_login_failures_window_seconds=900,
        rate_limit_mails_per_recipient=2,
    )


def client_at(platform: Platform, address: str) -> httpx.AsyncClient:
    """A client whose requests reach the gateway from `address`."""
    app = platform.client._transport.app  # type: ignore[attr-defined]
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url=BASE_URL,
        headers={"Origin": ORIGIN, "Content-Type": "application/json"},
    )


async def register(client: httpx.AsyncClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return await client.post(
        "/api/register/",
        json={"email": email, "password": password, "confirmed_password": password},
    )


async def activated(platform: Platform, email: str) -> None:
    assert (await register(platform.client, email)).status_code == 201
    (mail,) = await platform.outbox.wait_for(email)
    uid, token = mail.uid_and_token()
    assert (await platform.client.get(f"/api/activate/{uid}/{token}/")).status_code == 200


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/login/", json={"email": email, "password": password})


def assert_429(response: httpx.Response, window: int = 900) -> None:
    assert response.status_code == 429, response.text
    assert set(response.json()) == {"detail"} and isinstance(response.json()["detail"], str)
    assert 1 <= int(response.headers["retry-after"]) <= window
    assert response.headers["access-control-allow-origin"] == ORIGIN


# ---------------------------------------------------------------- failed logins


async def test_failures_from_one_address_lock_that_address_out_of_that_account(
    platform: Platform,
) -> None:
    await activated(platform, OWNER)
    await activated(platform, "other@example.com")
    attacker, home = client_at(platform, "203.0.113.7"), client_at(platform, "198.51.100.2")

    for _ in range(3):
        assert (await login(attacker, OWNER, WRONG)).status_code == 401
    assert_429(await login(attacker, OWNER, WRONG))
    # locked: even the right password is not tried from there, so it cannot be confirmed
    assert_429(await login(attacker, OWNER, PASSWORD))

    # the owner, elsewhere, is not locked out; the attacker's address is not, for others
    assert (await login(home, OWNER, PASSWORD)).status_code == 200
    assert (await login(attacker, "other@example.com", WRONG)).status_code == 401


async def test_an_unknown_address_is_limited_the_same_way(platform: Platform) -> None:
    attacker = client_at(platform, "203.0.113.7")
    for _ in range(3):
        assert (await login(attacker, "nobody@example.com", WRONG)).status_code == 401
    assert_429(await login(attacker, "nobody@example.com", WRONG))


async def test_a_success_starts_the_address_afresh(platform: Platform) -> None:
    await activated(platform, OWNER)
    home = client_at(platform, "198.51.100.2")
    for _ in range(2):
        assert (await login(home, OWNER, WRONG)).status_code == 401
    assert (await login(home, OWNER, PASSWORD)).status_code == 200
    for _ in range(3):
        assert (await login(home, OWNER, WRONG)).status_code == 401
    assert_429(await login(home, OWNER, WRONG))


async def test_guesses_spread_over_addresses_hit_the_account_ceiling_but_not_its_owner(
    platform: Platform,
) -> None:
    await activated(platform, OWNER)
    home = client_at(platform, "198.51.100.2")
    assert (await login(home, OWNER, PASSWORD)).status_code == 200  # a known address

    for n in range(4):  # 2 failures from each of 4 addresses: under 3 apiece, 8 in all
        spread = client_at(platform, f"203.0.113.{10 + n}")
        for _ in range(2):
            assert (await login(spread, OWNER, WRONG)).status_code == 401
    newcomer = client_at(platform, "192.0.2.99")
    assert_429(await login(newcomer, OWNER, PASSWORD))
    # the owner's address has logged in to the account before: not locked out
    assert (await login(home, OWNER, PASSWORD)).status_code == 200


async def test_forged_forwarding_headers_do_not_reset_the_count(platform: Platform) -> None:
    await activated(platform, OWNER)
    attacker = client_at(platform, "203.0.113.7")
    for n in range(3):
        forged = {"X-Forwarded-For": f"10.0.0.{n}", "X-Real-IP": f"10.0.1.{n}"}
        response = await attacker.post(
            "/api/login/", json={"email": OWNER, "password": WRONG}, headers=forged
        )
        assert response.status_code == 401
    assert_429(await login(attacker, OWNER, WRONG))


# ---------------------------------------------------------------- mails per recipient


async def settled(platform: Platform, email: str, count: int) -> int:
    """How many mails `email` got, once a later mail to someone else has arrived."""
    marker = f"marker{len(platform.outbox.all())}@example.com"
    assert (await register(platform.client, marker)).status_code == 201
    await platform.outbox.wait_for(marker)
    await asyncio.sleep(0.3)
    got = len([m for m in platform.outbox.all() if m.to == email])
    assert got == count, f"{got} mails to {email}, expected {count}"
    return got


async def test_activation_mails_per_recipient_are_capped_and_the_answer_stays(
    platform: Platform,
) -> None:
    answers = [await register(platform.new_client(), OWNER, f"squatter pass {n}") for n in (1, 2)]
    await platform.outbox.wait_for(OWNER, count=2)
    over = await register(platform.new_client(), OWNER, "owner's real passphrase")
    assert over.status_code == 201, over.text
    assert over.json() == answers[0].json() == answers[1].json()
    await settled(platform, OWNER, 2)

    # the owner's registration past the cap still took over: the links already in the
    # owner's mailbox activate the owner's password, not a squatter's
    latest = [m for m in platform.outbox.all() if m.to == OWNER][-1]
    uid, token = latest.uid_and_token()
    assert (await platform.client.get(f"/api/activate/{uid}/{token}/")).status_code == 200
    assert (await login(platform.new_client(), OWNER, "owner's real passphrase")).status_code == 200
    assert (await login(platform.new_client(), OWNER, "squatter pass 2")).status_code == 401


async def test_reset_mails_per_recipient_are_capped_and_the_answer_stays(
    platform: Platform,
) -> None:
    await activated(platform, OWNER)
    answers = [
        await platform.client.post("/api/password_reset/", json={"email": email})
        for email in (OWNER, OWNER, OWNER, "ghost@example.com")
    ]
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    await platform.outbox.wait_for(OWNER, count=3)  # the activation mail and two resets
    await settled(platform, OWNER, 3)
