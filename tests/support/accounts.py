"""User accounts on the all-in-one `platform` (tests/support/platform.py), as the browser
client makes them: register, activate from the mail, log in (a client with the session's
cookies), the CSRF header a logged-in client sends, and a Set-Cookie's flags; and the admin
account the platform starts with (`ADMIN_EMAIL`, `ADMIN_PASSWORD`), logged in."""

from __future__ import annotations

import httpx

from tests.support.platform import Platform

PASSWORD = "correct horse battery"
# the admin account of tests.support.platform.make_settings, created at start-up
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "adminpassword"


def flags(response: httpx.Response, name: str) -> dict[str, str]:
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    parts = [p.strip() for p in header.split(";")]
    out = {"value": parts[0].split("=", 1)[1]}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        out[key.lower()] = value or "true"
    return out


async def register(client: httpx.AsyncClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return await client.post(
        "/api/register/",
        json={
            "email": email,
            "password": password,
            "confirmed_password": password,
            "privacy_policy": "on",
        },
    )


async def activated_user(platform: Platform, email: str) -> None:
    assert (await register(platform.client, email)).status_code == 201
    (mail,) = await platform.outbox.wait_for(email)
    uid, token = mail.uid_and_token()
    response = await platform.client.get(f"/api/activate/{uid}/{token}/")
    assert response.status_code == 200, response.text


async def logged_in(platform: Platform, email: str) -> httpx.AsyncClient:
    await activated_user(platform, email)
    client = platform.new_client()
    response = await client.post("/api/login/", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


def csrf_header(client: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRFToken": client.cookies["csrftoken"]}


async def admin_login(client: httpx.AsyncClient) -> httpx.Response:
    """Logs `client` in as the platform's admin (the session's cookies land in its jar),
    asserting 200; the login's response, for its cookies."""
    response = await client.post(
        "/api/login/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return response


async def admin_session(platform: Platform) -> httpx.AsyncClient:
    """A new client of the platform (`Platform.new_client`) logged in as the admin; no CSRF
    header yet (`csrf_header`)."""
    client = platform.new_client()
    await admin_login(client)
    return client
