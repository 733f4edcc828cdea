"""Access tokens: cookie or Bearer; signature, expiry and revocation; admin-only routes;
public routes never look at them."""

from __future__ import annotations

import time

import httpx
import pytest

from common.kv.memory import InMemoryKeyValueStore
from common.security.keys import generate_keypair
from common.security.revocation import revoke_session, revoke_user
from tests.support.gateway import Tokens, bearer, cookie_header, echoed_headers
from tests.support.http import assert_json_error


async def test_cookie_token(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.get(
        "/api/video/", headers=cookie_header(access_token=tokens.user(user_id=42))
    )
    assert response.status_code == 200
    seen = echoed_headers(response)
    assert seen["x-videoflix-user-id"] == ["42"]
    assert seen["x-videoflix-user-email"] == ["user42@example.com"]
    assert seen["x-videoflix-user-admin"] == ["0"]
    assert seen["x-videoflix-session-id"][0]


async def test_bearer_token(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.get("/api/video/", headers=bearer(tokens.admin()))
    assert response.status_code == 200
    seen = echoed_headers(response)
    assert seen["x-videoflix-user-id"] == ["1"]
    assert seen["x-videoflix-user-admin"] == ["1"]


async def test_bearer_used_when_cookie_is_stale(client: httpx.AsyncClient, tokens: Tokens) -> None:
    headers = {**cookie_header(access_token="garbage"), **bearer(tokens.user(user_id=5))}
    response = await client.get("/api/video/", headers=headers)
    assert response.status_code == 200
    assert echoed_headers(response)["x-videoflix-user-id"] == ["5"]


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    for path in ("/api/video/", "/api/video/1/480p/index.m3u8", "/api/admin/videos/"):
        response = await client.get(path)
        assert_json_error(response, 401, detail=True)


def _bad_signature(tokens: Tokens) -> str:
    return tokens.issue(private_pem=generate_keypair().private_pem)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: t.user(lifetime=-60),  # expired
        _bad_signature,
        lambda t: "garbage",
        lambda t: t.user()[:-4] + "AAAA",  # tampered
        lambda t: "",
    ],
    ids=["expired", "bad-signature", "garbage", "tampered", "empty"],
)
@pytest.mark.parametrize("via", ["cookie", "bearer"])
async def test_invalid_token_is_401(
    client: httpx.AsyncClient, tokens: Tokens, make, via: str
) -> None:
    token = make(tokens)
    headers = cookie_header(access_token=token) if via == "cookie" else bearer(token)
    response = await client.get("/api/video/", headers=headers)
    body = assert_json_error(response, 401, detail=True)
    if token:
        assert token not in body["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_revoked_session_is_401(
    client: httpx.AsyncClient, tokens: Tokens, kv: InMemoryKeyValueStore
) -> None:
    token = tokens.user(session_id="s-1")
    assert (await client.get("/api/video/", headers=bearer(token))).status_code == 200
    await revoke_session(kv, "s-1", ttl_seconds=3600)
    assert_json_error(await client.get("/api/video/", headers=bearer(token)), 401, detail=True)
    other = tokens.user(session_id="s-2")
    assert (await client.get("/api/video/", headers=bearer(other))).status_code == 200


async def test_revoked_user_is_401(
    client: httpx.AsyncClient, tokens: Tokens, kv: InMemoryKeyValueStore, monkeypatch
) -> None:
    now = time.time()
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: now - 10)  # issued before the password reset
        token = tokens.user(user_id=9)
    await revoke_user(kv, 9, ttl_seconds=3600)
    assert_json_error(await client.get("/api/video/", headers=bearer(token)), 401, detail=True)
    unrelated = tokens.user(user_id=10)
    assert (await client.get("/api/video/", headers=bearer(unrelated))).status_code == 200


async def test_revocation_store_down_is_503(
    client: httpx.AsyncClient, tokens: Tokens, kv: InMemoryKeyValueStore, monkeypatch
) -> None:
    async def broken(*keys: str) -> str | None:
        raise ConnectionError("kv down")

    for read in ("get", "get_many"):  # whichever read the check uses
        monkeypatch.setattr(kv, read, broken)
    assert_json_error(
        await client.get("/api/video/", headers=bearer(tokens.user())), 503, detail=True
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/admin/videos/1/"),
        ("POST", "/api/admin/videos/"),
        ("PATCH", "/api/admin/videos/1/"),
        ("DELETE", "/api/admin/videos/1/"),
    ],
)
async def test_admin_route_is_403_for_users(
    client: httpx.AsyncClient, tokens: Tokens, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=bearer(tokens.user()))
    assert_json_error(response, 403, detail=True)


async def test_admin_route_is_401_without_token(client: httpx.AsyncClient) -> None:
    assert_json_error(await client.post("/api/admin/videos/"), 401, detail=True)


PUBLIC = [
    ("POST", "/api/register/"),
    ("GET", "/api/activate/MQ/tok/"),
    ("POST", "/api/login/"),
    ("POST", "/api/token/refresh/"),
    ("POST", "/api/password_reset/"),
    ("POST", "/api/password_confirm/MQ/tok/"),
]


@pytest.mark.parametrize(("method", "path"), PUBLIC)
async def test_public_routes_ignore_garbage_cookie_and_stale_csrf(
    client: httpx.AsyncClient, tokens: Tokens, method: str, path: str
) -> None:
    headers = {
        **cookie_header(access_token=tokens.user(lifetime=-3600), csrftoken="old"),
        "X-CSRFToken": "stale-and-different",
        "Authorization": "Bearer garbage",
    }
    response = await client.request(method, path, headers=headers, json={"email": "a@b.c"})
    assert response.status_code == 200, response.text
    seen = echoed_headers(response)
    assert "x-videoflix-user-id" not in seen
    # the browser's cookies still reach identity (it reads refresh_token itself)
    assert "access_token" in response.json()["cookies"]


@pytest.mark.parametrize(("method", "path"), PUBLIC)
async def test_public_routes_forward_no_identity(
    client: httpx.AsyncClient, tokens: Tokens, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=bearer(tokens.admin()))
    assert "x-videoflix-user-id" not in echoed_headers(response)
