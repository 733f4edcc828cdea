"""User accounts on the all-in-one `platform` (tests/support/platform.py), as the browser
client makes them: register, activate from the mail, log in (a client with the session's
cookies), the CSRF header a logged-in client sends, and a Set-Cookie's flags; and the admin
account the platform starts with (`ADMIN_EMAIL`, `ADMIN_PASSWORD`), logged in."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from identity.models import LoginSession, SpentRefreshToken, User
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


async def age_refreshes(platform: Platform, email: str, seconds: float) -> None:
    """Move the user's refreshes `seconds` into the past, as if they had happened that long
    ago: past `REFRESH_REUSE_GRACE_SECONDS`, a spent refresh token coming back is reuse."""
    accounts = platform.service("identity").state.accounts
    back = timedelta(seconds=seconds)
    async with accounts.sessionmaker() as db:
        user_id = await db.scalar(select(User.id).where(User.email == email))
        sessions = (
            await db.scalars(select(LoginSession).where(LoginSession.user_id == user_id))
        ).all()
        spent = (
            await db.scalars(
                select(SpentRefreshToken).where(
                    SpentRefreshToken.session_id.in_([s.id for s in sessions])
                )
            )
        ).all()
        for session in sessions:  # in Python: SQLite keeps these times as text
            if session.last_refreshed_at is not None:
                session.last_refreshed_at -= back
        for token in spent:
            token.spent_at -= back
        await db.commit()


async def past_the_grace(platform: Platform, email: str) -> None:
    """The user's refreshes aged just past the reuse grace."""
    await age_refreshes(platform, email, platform.settings.refresh_reuse_grace_seconds + 1)
