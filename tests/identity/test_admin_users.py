"""The admin's user endpoints (`/api/admin/users/...`), through the gateway, all-in-one."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.accounts import (
    ADMIN_EMAIL,
    PASSWORD,
    activated_user,
    admin_session,
    csrf_header,
    logged_in,
    register,
)
from tests.support.http import assert_json_error
from tests.support.platform import Platform

USERS = "/api/admin/users/"
FIELDS = {"id", "email", "is_admin", "activated", "is_active", "created_at", "last_login"}


async def admin(platform: Platform) -> httpx.AsyncClient:
    client = await admin_session(platform)
    client.headers.update(csrf_header(client))
    return client


async def user_id(client: httpx.AsyncClient, email: str) -> int:
    (found,) = (await client.get(USERS, params={"search": email})).json()
    assert found["email"] == email
    return int(found["id"])


async def login(platform: Platform, email: str, password: str = PASSWORD) -> httpx.Response:
    return await platform.new_client().post(
        "/api/login/", json={"email": email, "password": password}
    )


async def test_list_search_and_shape(platform: Platform) -> None:
    await activated_user(platform, "Alice@Example.com")
    await register(platform.client, "bob@example.com")
    await register(platform.client, "carol@other.org")
    client = await admin(platform)

    response = await client.get(USERS)

    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()
    assert [u["email"] for u in listed] == [
        "admin@example.com",
        "alice@example.com",
        "bob@example.com",
        "carol@other.org",
    ]
    for user in listed:
        assert set(user) == FIELDS
        assert isinstance(user["id"], int) and user["is_active"] is True
        assert user["created_at"].endswith("Z")
    by_email = {u["email"]: u for u in listed}
    assert by_email["admin@example.com"]["is_admin"] is True
    assert by_email["admin@example.com"]["last_login"].endswith("Z")
    assert by_email["alice@example.com"] | {"id": 0, "created_at": ""} == {
        "id": 0,
        "email": "alice@example.com",
        "is_admin": False,
        "activated": True,
        "is_active": True,
        "created_at": "",
        "last_login": None,
    }
    assert by_email["bob@example.com"]["activated"] is False

    async def emails(**params: Any) -> list[str]:
        found = await client.get(USERS.rstrip("/"), params=params)
        assert found.status_code == 200, found.text
        return [u["email"] for u in found.json()]

    assert await emails(search="EXAMPLE.COM") == [
        "admin@example.com",
        "alice@example.com",
        "bob@example.com",
    ]
    assert await emails(search=" li ") == ["alice@example.com"]
    assert await emails(search="%") == [] and await emails(search="_") == []
    assert await emails(search="a\x00") == []
    assert await emails(search="nobody") == []
    assert await emails(limit=2) == ["admin@example.com", "alice@example.com"]
    for bad in ({"limit": 0}, {"limit": "many"}, {"limit": 100_000}, {"search": "x" * 300}):
        assert_json_error(await client.get(USERS, params=bad), 400)

    alice = by_email["alice@example.com"]
    for path in (f"{USERS}{alice['id']}/", f"{USERS}{alice['id']}"):
        one = await client.get(path)
        assert one.status_code == 200 and one.json() == alice
    for unknown in ("999999", "abc", "1" * 30, "-1"):
        assert_json_error(await client.get(f"{USERS}{unknown}/"), 404, detail=True)


async def test_deactivation_ends_sessions_and_refuses_logins_until_reactivated(
    platform: Platform,
) -> None:
    email = "alice@example.com"
    alice = await logged_in(platform, email)
    assert (await alice.get("/api/video/")).status_code == 200
    client = await admin(platform)
    alice_id = await user_id(client, email)
    assert (await client.get(f"{USERS}{alice_id}/")).json()["last_login"] is not None

    response = await client.patch(f"{USERS}{alice_id}/", json={"is_active": False})

    assert response.status_code == 200
    assert response.json()["is_active"] is False and response.json()["activated"] is True
    # her session is over: the access token at the gateway, the refresh token at identity
    assert_json_error(await alice.get("/api/video/"), 401, detail=True)
    assert_json_error(await alice.post("/api/token/refresh/"), 401, detail=True)
    # the right password is told why; a wrong one learns nothing
    refused = await login(platform, email)
    assert_json_error(refused, 403, detail=True)
    assert "deactivated" in refused.json()["detail"]
    wrong = await login(platform, email, "not her password")
    assert_json_error(wrong, 401, detail=True)
    assert wrong.json() == (await login(platform, "nobody@example.com")).json()
    # again: still deactivated, nothing breaks
    again = await client.patch(f"{USERS}{alice_id}", json={"is_active": False})
    assert again.status_code == 200 and again.json()["is_active"] is False

    back = await client.patch(f"{USERS}{alice_id}/", json={"is_active": True})

    assert back.status_code == 200 and back.json()["is_active"] is True
    relogin = await login(platform, email)
    assert relogin.status_code == 200
    token = relogin.cookies["access_token"]
    video = await platform.new_client().get(
        "/api/video/", headers={"Authorization": f"Bearer {token}"}
    )
    assert video.status_code == 200


async def test_an_admin_cannot_deactivate_themself_and_bodies_are_checked(
    platform: Platform,
) -> None:
    await register(platform.client, "bob@example.com")
    client = await admin(platform)
    own = await user_id(client, ADMIN_EMAIL)
    bob = await user_id(client, "bob@example.com")

    refused = await client.patch(f"{USERS}{own}/", json={"is_active": False})

    assert_json_error(refused, 400, detail=True)
    assert (await client.get(f"{USERS}{own}/")).json()["is_active"] is True
    assert (await client.patch(f"{USERS}{own}/", json={"is_active": True})).status_code == 200
    for bad in ({}, {"is_active": "no"}, {"is_active": 0}, {"is_active": None}):
        assert_json_error(await client.patch(f"{USERS}{bob}/", json=bad), 400)
    assert_json_error(await client.patch(f"{USERS}{bob}/", content=b"{"), 400)
    assert_json_error(
        await client.patch(f"{USERS}999999/", json={"is_active": False}), 404, detail=True
    )
    assert (await client.get(f"{USERS}{bob}/")).json()["is_active"] is True


async def test_resend_activation_within_the_mail_limit(platform: Platform) -> None:
    email = "bob@example.com"
    await register(platform.client, email)  # activation mail 1 of the 3 an hour
    await platform.outbox.wait_for(email, count=1)
    client = await admin(platform)
    bob = await user_id(client, email)
    path = f"{USERS}{bob}/resend-activation/"

    for count in (2, 3):
        response = await client.post(path)
        assert response.status_code == 202, response.text
        assert set(response.json()) == {"detail"} and isinstance(response.json()["detail"], str)
        await platform.outbox.wait_for(email, count=count)

    limited = await client.post(path.rstrip("/"))
    assert_json_error(limited, 429, detail=True)
    assert int(limited.headers["retry-after"]) > 0

    latest = (await platform.outbox.wait_for(email, count=3))[-1]
    uid, token = latest.uid_and_token()
    assert (await platform.client.get(f"/api/activate/{uid}/{token}/")).status_code == 200
    assert (await client.get(f"{USERS}{bob}/")).json()["activated"] is True
    assert_json_error(await client.post(path), 409, detail=True)
    own = await user_id(client, ADMIN_EMAIL)
    assert_json_error(await client.post(f"{USERS}{own}/resend-activation/"), 409, detail=True)
    assert_json_error(await client.post(f"{USERS}999999/resend-activation/"), 404, detail=True)


async def test_admins_only(platform: Platform) -> None:
    user = await logged_in(platform, "alice@example.com")
    user.headers.update(csrf_header(user))
    client = await admin(platform)
    alice = await user_id(client, "alice@example.com")
    anonymous = platform.new_client()
    calls = [
        ("GET", USERS, None),
        ("GET", f"{USERS}{alice}/", None),
        ("PATCH", f"{USERS}{alice}/", {"is_active": False}),
        ("POST", f"{USERS}{alice}/resend-activation/", None),
    ]
    for method, path, body in calls:
        assert_json_error(await user.request(method, path, json=body), 403, detail=True)
        assert_json_error(await anonymous.request(method, path, json=body), 401, detail=True)
    # cookie-authenticated writes need the CSRF header; a Bearer token does not
    del client.headers["X-CSRFToken"]
    assert_json_error(
        await client.patch(f"{USERS}{alice}/", json={"is_active": False}), 403, detail=True
    )
    bearer = platform.new_client()
    bearer.headers["Authorization"] = f"Bearer {client.cookies['access_token']}"
    assert (await bearer.patch(f"{USERS}{alice}/", json={"is_active": False})).status_code == 200
    assert (await client.get(f"{USERS}{alice}/")).json()["is_active"] is False
