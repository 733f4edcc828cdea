"""The gateway verifies a token's signature once and remembers its claims until `exp`; an
expired token is still refused, and revocation is still checked on every request."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from common.kv.memory import InMemoryKeyValueStore
from common.security.keys import KeyPair
from common.security.revocation import revoke_session, revoke_user
from common.security.tokens import AccessClaims, TokenVerifier
from gateway.auth import VerifiedTokens
from tests.support.gateway import Tokens, bearer, cookie_header
from tests.support.http import assert_json_error


class CountingVerifier(TokenVerifier):
    calls: int = 0

    def verify(self, token: str) -> AccessClaims:
        object.__setattr__(self, "calls", self.calls + 1)
        return super().verify(token)


def _verifier(keypair: KeyPair, **kw: Any) -> CountingVerifier:
    return CountingVerifier(keypair.public_pem, **kw)


async def test_a_token_is_verified_once(
    gateway_factory: Any, keypair: KeyPair, tokens: Tokens
) -> None:
    verifier = _verifier(keypair)
    token = tokens.user(user_id=3)
    async with gateway_factory(token_verifier=verifier) as client:
        for headers in (bearer(token), cookie_header(access_token=token)) * 3:
            response = await client.get("/api/video/1/480p/segment_00000.ts/", headers=headers)
            assert response.status_code == 200
    assert verifier.calls == 1


async def test_invalid_tokens_are_never_remembered(
    gateway_factory: Any, keypair: KeyPair, tokens: Tokens
) -> None:
    verifier = _verifier(keypair)
    expired = tokens.user(lifetime=-60)
    async with gateway_factory(token_verifier=verifier) as client:
        for token in ("garbage", expired, "garbage", expired):
            assert_json_error(await client.get("/api/video/", headers=bearer(token)), 401)
    assert verifier.calls == 4


async def test_a_remembered_token_is_refused_once_expired(
    gateway_factory: Any, keypair: KeyPair, tokens: Tokens
) -> None:
    verifier = _verifier(keypair, leeway_seconds=0)
    token = tokens.user(lifetime=1)
    async with gateway_factory(token_verifier=verifier) as client:
        assert (await client.get("/api/video/", headers=bearer(token))).status_code == 200
        assert (await client.get("/api/video/", headers=bearer(token))).status_code == 200
        exp = verifier.verify(token).exp
        await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
        response = await client.get("/api/video/", headers=bearer(token))
        assert_json_error(response, 401, detail=True)
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_remembered_token_of_a_revoked_session_is_refused(
    client: httpx.AsyncClient, tokens: Tokens, kv: InMemoryKeyValueStore
) -> None:
    token = tokens.user(session_id="s-cached")
    for _ in range(3):
        assert (await client.get("/api/video/", headers=bearer(token))).status_code == 200
    await revoke_session(kv, "s-cached", ttl_seconds=3600)
    assert_json_error(await client.get("/api/video/", headers=bearer(token)), 401, detail=True)


async def test_a_remembered_token_of_a_reset_password_is_refused(
    client: httpx.AsyncClient, tokens: Tokens, kv: InMemoryKeyValueStore, monkeypatch: Any
) -> None:
    now = time.time()
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: now - 10)
        token = tokens.user(user_id=21)
    assert (await client.get("/api/video/", headers=bearer(token))).status_code == 200
    await revoke_user(kv, 21, ttl_seconds=3600)
    assert_json_error(await client.get("/api/video/", headers=bearer(token)), 401, detail=True)


def test_the_cache_is_bounded_and_drops_the_least_recently_used(
    keypair: KeyPair, tokens: Tokens
) -> None:
    verifier = _verifier(keypair)
    cache = VerifiedTokens(verifier, max_entries=2)
    a, b, c = (tokens.user(user_id=n) for n in (1, 2, 3))
    cache.verify(a)
    cache.verify(b)
    cache.verify(a)  # a is now the most recent
    cache.verify(c)  # evicts b
    assert verifier.calls == 3
    cache.verify(a)
    cache.verify(c)
    assert verifier.calls == 3
    cache.verify(b)
    assert verifier.calls == 4


def test_an_entry_lasts_until_exp_only(keypair: KeyPair, tokens: Tokens) -> None:
    verifier = _verifier(keypair)
    now = [time.time()]
    cache = VerifiedTokens(verifier, clock=lambda: now[0])
    token = tokens.user(lifetime=60)
    exp = cache.verify(token).exp
    now[0] = exp - 1
    cache.verify(token)
    assert verifier.calls == 1
    now[0] = exp
    cache.verify(token)  # past exp: verified again (the verifier decides, with its leeway)
    assert verifier.calls == 2
