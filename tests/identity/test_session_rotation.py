"""Sessions: the refresh token rotates on every refresh (with a renewed csrftoken), a rotated
refresh token that comes back revokes its whole session (OWASP's reuse detection; past the
grace for a concurrent refresh, tests/identity/test_refresh_grace.py), and the
csrftoken is bound to its session, so a planted `csrftoken` with a matching header is refused.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from identity.models import LoginSession, SpentRefreshToken, User, utcnow
from tests.support.accounts import (
    PASSWORD,
    admin_session,
    csrf_header,
    flags,
    logged_in,
    past_the_grace,
)
from tests.support.platform import Platform


def jar(platform: Platform, **cookies: str) -> httpx.AsyncClient:
    return platform.new_client(cookies=cookies)


async def test_refresh_rotates_the_refresh_token_and_renews_the_csrftoken(
    platform: Platform,
) -> None:
    client = await logged_in(platform, "rita@example.com")
    old_refresh = client.cookies["refresh_token"]
    response = await client.post("/api/token/refresh/")  # no body, no CSRF header
    assert response.status_code == 200, response.text
    assert response.json()["detail"] == "Token refreshed"

    refresh, csrf, access = (
        flags(response, n) for n in ("refresh_token", "csrftoken", "access_token")
    )
    assert refresh["value"] != old_refresh
    assert "httponly" in refresh and refresh["path"] == "/" and refresh["samesite"].lower() == "lax"
    assert "httponly" not in csrf and csrf["path"] == "/" and csrf["samesite"].lower() == "lax"
    assert all(c.isalnum() or c in "-_" for c in csrf["value"])
    assert int(csrf["max-age"]) >= int(refresh["max-age"]) > 0
    assert access["value"] == response.json()["access"]

    # the new pair works: a page, another refresh, and a logout with the renewed csrftoken
    assert (await client.get("/api/video/")).status_code == 200
    assert (await client.post("/api/token/refresh/")).status_code == 200
    assert (await client.post("/api/logout/", headers=csrf_header(client))).status_code == 200


async def test_a_rotated_refresh_token_coming_back_revokes_the_session(
    platform: Platform,
) -> None:
    owner = await logged_in(platform, "sam@example.com")
    stolen = owner.cookies["refresh_token"]
    assert (await owner.post("/api/token/refresh/")).status_code == 200
    await past_the_grace(platform, "sam@example.com")

    thief = jar(platform, refresh_token=stolen)
    assert (await thief.post("/api/token/refresh/")).status_code == 401
    # the whole session is gone: the owner's current refresh token and access token too
    assert (await owner.post("/api/token/refresh/")).status_code == 401
    assert (await owner.get("/api/video/")).status_code == 401
    # a new login is a new session
    again = platform.new_client()
    login = await again.post("/api/login/", json={"email": "sam@example.com", "password": PASSWORD})
    assert login.status_code == 200
    assert (await again.post("/api/token/refresh/")).status_code == 200


async def test_the_owner_coming_back_after_a_thief_refreshed_revokes_the_thief_too(
    platform: Platform,
) -> None:
    owner = await logged_in(platform, "tess@example.com")
    thief = jar(platform, refresh_token=owner.cookies["refresh_token"])
    assert (await thief.post("/api/token/refresh/")).status_code == 200
    assert (await thief.get("/api/video/")).status_code == 200
    await past_the_grace(platform, "tess@example.com")

    assert (await owner.post("/api/token/refresh/")).status_code == 401  # reuse: all revoked
    assert (await thief.post("/api/token/refresh/")).status_code == 401
    assert (await thief.get("/api/video/")).status_code == 401


async def test_a_planted_csrftoken_with_a_matching_header_cannot_log_out(
    platform: Platform,
) -> None:
    client = await logged_in(platform, "uma@example.com")
    real = client.cookies["csrftoken"]
    client.cookies.set("csrftoken", "planted-by-a-sibling-site", domain="127.0.0.1")
    response = await client.post(
        "/api/logout/", headers={"X-CSRFToken": "planted-by-a-sibling-site"}
    )
    assert response.status_code == 403, response.text
    assert set(response.json()) == {"detail"}
    assert (await client.get("/api/video/")).status_code == 200  # still logged in

    client.cookies.set("csrftoken", real, domain="127.0.0.1")
    assert (await client.post("/api/logout/", headers={"X-CSRFToken": real})).status_code == 200


async def test_the_csrftoken_of_another_session_does_not_pass(platform: Platform) -> None:
    mine = await logged_in(platform, "vic@example.com")
    other = platform.new_client()
    login = await other.post("/api/login/", json={"email": "vic@example.com", "password": PASSWORD})
    assert login.status_code == 200
    foreign = other.cookies["csrftoken"]
    assert foreign != mine.cookies["csrftoken"]
    mine.cookies.set("csrftoken", foreign, domain="127.0.0.1")
    response = await mine.post("/api/logout/", headers={"X-CSRFToken": foreign})
    assert response.status_code == 403


async def test_admin_writes_refuse_a_planted_csrftoken(platform: Platform) -> None:
    admin = await admin_session(platform)
    real = admin.cookies["csrftoken"]
    admin.cookies.set("csrftoken", "planted", domain="127.0.0.1")
    planted = await admin.patch(
        "/api/admin/videos/999/", json={"title": "x"}, headers={"X-CSRFToken": "planted"}
    )
    assert planted.status_code == 403, planted.text

    admin.cookies.set("csrftoken", real, domain="127.0.0.1")
    genuine = await admin.patch(
        "/api/admin/videos/999/", json={"title": "x"}, headers={"X-CSRFToken": real}
    )
    assert genuine.status_code == 404, genuine.text  # past the CSRF check: no such video


async def test_expired_sessions_are_pruned_with_their_spent_tokens(platform: Platform) -> None:
    """One refresh spends one token, so the tables would grow for ever; a session past its
    lifetime refreshes nothing and goes, while a live one keeps its reuse detection."""
    live = await logged_in(platform, "vic@example.com")
    live_spent = live.cookies["refresh_token"]
    assert (await live.post("/api/token/refresh/")).status_code == 200
    old = await logged_in(platform, "wes@example.com")
    for _ in range(3):
        assert (await old.post("/api/token/refresh/")).status_code == 200

    accounts = platform.service("identity").state.accounts
    async with accounts.sessionmaker() as db:
        wes = await db.scalar(select(User.id).where(User.email == "wes@example.com"))
        (old_session,) = (
            await db.scalars(select(LoginSession.id).where(LoginSession.user_id == wes))
        ).all()
        await db.execute(
            update(LoginSession)
            .where(LoginSession.id == old_session)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()

    assert await accounts.prune_sessions() == 1
    assert await accounts.prune_sessions() == 0
    async with accounts.sessionmaker() as db:
        assert await db.get(LoginSession, old_session) is None
        spent_of_old = select(SpentRefreshToken).where(SpentRefreshToken.session_id == old_session)
        assert (await db.scalars(spent_of_old)).all() == []
        assert len((await db.scalars(select(SpentRefreshToken))).all()) == 1  # vic's
    assert (await old.post("/api/token/refresh/")).status_code == 401

    await past_the_grace(platform, "vic@example.com")
    thief = jar(platform, refresh_token=live_spent)  # the live session's spent token still
    assert (await thief.post("/api/token/refresh/")).status_code == 401
    assert (await live.post("/api/token/refresh/")).status_code == 401  # ... revokes it
