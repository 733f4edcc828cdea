"""Every row of CONTRACT.md's authentication table, through the gateway, all-in-one."""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx
import pytest

from common.security.keys import load_or_create_keypair
from common.security.tokens import TokenSigner
from tests.support.accounts import PASSWORD, activated_user, csrf_header, flags, logged_in, register
from tests.support.platform import Platform

NEW_PASSWORD = "another fine secret"


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """Set-Cookie headers by cookie name, parsed (flags included)."""
    found: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name in jar:
            found[name] = jar
    return found


# ------------------------------------------------------------------ register


async def test_register_creates_inactive_user_and_sends_activation_mail(platform: Platform) -> None:
    response = await register(platform.client, "  Alice@Example.COM ")
    assert response.status_code == 201
    body = response.json()
    assert body == {"user": {"id": body["user"]["id"], "email": "alice@example.com"}}
    assert isinstance(body["user"]["id"], int)
    assert "token" not in response.text and "uid" not in response.text

    (mail,) = await platform.outbox.wait_for("alice@example.com")
    assert mail.subject == "Confirm your email"
    link = mail.link()
    assert link.startswith("http://127.0.0.1:5500/pages/auth/activate.html?uid=")
    uid, token = mail.uid_and_token()
    assert all(c.isalnum() or c in "-_" for c in uid + token)

    login = await platform.client.post(
        "/api/login/", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert login.status_code == 403
    assert set(login.json()) == {"detail"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "confirmed_password": PASSWORD}, "email"),
        (
            {"email": "b@example.com", "password": PASSWORD, "confirmed_password": "x" * 12},
            "confirmed_password",
        ),
        (
            {"email": "b@example.com", "password": "short", "confirmed_password": "short"},
            "password",
        ),
        (
            {
                "email": "b@example.com",
                "password": "password123",
                "confirmed_password": "password123",
            },
            "password",
        ),
        ({"password": PASSWORD, "confirmed_password": PASSWORD}, "email"),
    ],
)
async def test_register_rejects_bad_input_with_field_messages(
    platform: Platform, payload: dict[str, str], field: str
) -> None:
    response = await platform.client.post("/api/register/", json=payload)
    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert all(isinstance(m, str) and m for m in body[field])
    assert not platform.outbox.all()


async def test_register_taken_email_is_generic_and_case_insensitive(platform: Platform) -> None:
    # taken: activated (a pending address is taken over instead, see test_address_squatting)
    await activated_user(platform, "carol@example.com")
    response = await register(platform.client, "CAROL@example.com")
    assert response.status_code == 400
    assert response.json() == {"detail": "Please check your input and try again."}


async def test_malformed_json_is_400_not_422(platform: Platform) -> None:
    response = await platform.client.post("/api/register/", content=b"{not json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str)


# ------------------------------------------------------------------ activate


async def test_activation_link_is_single_use(platform: Platform) -> None:
    assert (await register(platform.client, "dave@example.com")).status_code == 201
    (mail,) = await platform.outbox.wait_for("dave@example.com")
    uid, token = mail.uid_and_token()
    first = await platform.client.get(f"/api/activate/{uid}/{token}/")
    assert first.status_code == 200
    assert first.json() == {"message": "Account successfully activated."}
    again = await platform.client.get(f"/api/activate/{uid}/{token}")
    assert again.status_code == 400
    assert set(again.json()) == {"message"}


@pytest.mark.parametrize("path", ["/api/activate/MQ/garbage/", "/api/activate/!!/x/"])
async def test_activation_with_invalid_link_is_400(platform: Platform, path: str) -> None:
    response = await platform.client.get(path)
    assert response.status_code == 400
    assert set(response.json()) == {"message"}


# ------------------------------------------------------------------ login


async def test_login_sets_the_three_cookies_with_contract_flags(platform: Platform) -> None:
    await activated_user(platform, "erin@example.com")
    response = await platform.client.post(
        "/api/login/", json={"email": " ERIN@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "detail": "Login successful",
        "user": {"id": body["user"]["id"], "username": "erin@example.com"},
    }
    for name in ("access_token", "refresh_token", "csrftoken"):
        f = flags(response, name)
        assert f["path"] == "/"
        assert f["samesite"].lower() == "lax"
        assert "domain" not in f and "secure" not in f
        assert ("httponly" in f) == (name != "csrftoken")
    assert int(flags(response, "access_token")["max-age"]) >= 30 * 60
    csrf = flags(response, "csrftoken")
    assert int(csrf["max-age"]) >= int(flags(response, "refresh_token")["max-age"])
    assert all(c.isalnum() or c in "-_" for c in csrf["value"])


async def test_login_failures(platform: Platform) -> None:
    await activated_user(platform, "frank@example.com")
    wrong = await platform.client.post(
        "/api/login/", json={"email": "frank@example.com", "password": "wrong password"}
    )
    unknown = await platform.client.post(
        "/api/login/", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    malformed = await platform.client.post("/api/login/", json={"email": "frank@example.com"})
    assert malformed.status_code == 400
    assert malformed.json() == {"password": ["This field is required."]}


async def test_login_ignores_garbage_cookie_and_stale_csrf_header(platform: Platform) -> None:
    await activated_user(platform, "gina@example.com")
    client = platform.new_client(cookies={"access_token": "garbage", "csrftoken": "stale"})
    response = await client.post(
        "/api/login/",
        json={"email": "gina@example.com", "password": PASSWORD},
        headers={"X-CSRFToken": "something-else"},
    )
    assert response.status_code == 200


# ------------------------------------------------------------------ refresh


async def test_refresh_issues_a_new_access_cookie(platform: Platform) -> None:
    client = await logged_in(platform, "hank@example.com")
    response = await client.post("/api/token/refresh/")  # no body, no CSRF header
    assert response.status_code == 200
    body = response.json()
    assert body["detail"] == "Token refreshed" and body["access"].count(".") == 2
    assert flags(response, "access_token")["value"] == body["access"]
    assert (await client.get("/api/video/")).status_code != 401


async def test_refresh_failures(platform: Platform) -> None:
    missing = await platform.new_client().post("/api/token/refresh/")
    assert missing.status_code == 400
    assert set(missing.json()) == {"detail"}
    invalid = await platform.new_client(cookies={"refresh_token": "nope"}).post(
        "/api/token/refresh"
    )
    assert invalid.status_code == 401
    assert set(invalid.json()) == {"detail"}


# ------------------------------------------------------------------ logout


async def test_logout_revokes_refresh_and_access_token(platform: Platform) -> None:
    client = await logged_in(platform, "ivy@example.com")
    access, refresh = client.cookies["access_token"], client.cookies["refresh_token"]
    response = await client.post("/api/logout/", headers=csrf_header(client))
    assert response.status_code == 200
    assert response.json() == {
        "detail": "Logout successful! All tokens will be deleted. Refresh token is now invalid."
    }
    for name in ("access_token", "refresh_token", "csrftoken"):
        f = flags(response, name)
        assert f["max-age"] == "0" and f["path"] == "/"

    replay = platform.new_client(cookies={"access_token": access, "refresh_token": refresh})
    assert (await replay.get("/api/video/")).status_code == 401
    assert (await replay.post("/api/token/refresh/")).status_code == 401
    bearer = await platform.new_client().get(
        "/api/video/", headers={"Authorization": f"Bearer {access}"}
    )
    assert bearer.status_code == 401


async def test_logout_without_refresh_cookie_is_400_before_csrf(platform: Platform) -> None:
    response = await platform.new_client().post("/api/logout/", headers={"X-CSRFToken": "x"})
    assert response.status_code == 400


async def test_logout_with_wrong_csrf_is_403(platform: Platform) -> None:
    client = await logged_in(platform, "jack@example.com")
    assert (await client.post("/api/logout/")).status_code == 403
    response = await client.post("/api/logout/", headers={"X-CSRFToken": "wrong"})
    assert response.status_code == 403
    assert (await client.get("/api/video/")).status_code != 401  # still logged in


async def test_logout_works_with_an_expired_access_token(platform: Platform) -> None:
    client = await logged_in(platform, "kim@example.com")
    keys = load_or_create_keypair(platform.settings.data_dir / "keys")
    expired = TokenSigner(keys.private_pem, lifetime_seconds=-3600).issue(
        user_id=1, email="kim@example.com", admin=False, session_id="s"
    )
    client.cookies.set("access_token", expired, domain="127.0.0.1")
    response = await client.post("/api/logout/", headers=csrf_header(client))
    assert response.status_code == 200


# ------------------------------------------------------------------ password reset


async def test_password_reset_is_enumeration_safe(platform: Platform) -> None:
    await activated_user(platform, "lea@example.com")
    known = await platform.client.post("/api/password_reset/", json={"email": "lea@example.com"})
    unknown = await platform.client.post(
        "/api/password_reset/", json={"email": "ghost@example.com"}
    )
    assert known.status_code == unknown.status_code == 200
    assert (
        known.json()
        == unknown.json()
        == {"detail": "An email has been sent to reset your password."}
    )
    mails = await platform.outbox.wait_for("lea@example.com", count=2)
    reset = mails[-1]
    assert reset.link().startswith("http://127.0.0.1:5500/pages/auth/confirm_password.html?uid=")
    assert "24 hours" in reset.text
    assert not [m for m in platform.outbox.all() if "ghost" in m.to]


@pytest.mark.parametrize("payload", [{}, {"email": "nope"}])
async def test_password_reset_rejects_missing_or_invalid_email(
    platform: Platform, payload: dict[str, str]
) -> None:
    response = await platform.client.post("/api/password_reset/", json=payload)
    assert response.status_code == 400
    assert list(response.json()) == ["email"]


async def test_password_confirm_resets_and_revokes_every_session(platform: Platform) -> None:
    first = await logged_in(platform, "max@example.com")
    second = platform.new_client()
    await second.post("/api/login/", json={"email": "max@example.com", "password": PASSWORD})
    await platform.client.post("/api/password_reset/", json={"email": "max@example.com"})
    mail = (await platform.outbox.wait_for("max@example.com", count=2))[-1]
    uid, token = mail.uid_and_token()

    mismatch = await platform.client.post(
        f"/api/password_confirm/{uid}/{token}/",
        json={"new_password": NEW_PASSWORD, "confirm_password": "different one"},
    )
    assert mismatch.status_code == 400 and list(mismatch.json()) == ["confirm_password"]
    weak = await platform.client.post(
        f"/api/password_confirm/{uid}/{token}/",
        json={"new_password": "12345678", "confirm_password": "12345678"},
    )
    assert weak.status_code == 400 and list(weak.json()) == ["new_password"]

    ok = await platform.client.post(
        f"/api/password_confirm/{uid}/{token}/",
        json={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert ok.status_code == 200
    assert ok.json() == {"detail": "Your Password has been successfully reset."}

    for client in (first, second):
        assert (await client.get("/api/video/")).status_code == 401
        assert (await client.post("/api/token/refresh/")).status_code == 401
    reuse = await platform.client.post(
        f"/api/password_confirm/{uid}/{token}/",
        json={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert reuse.status_code == 400
    old = await platform.client.post(
        "/api/login/", json={"email": "max@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401
    new = await platform.new_client().post(
        "/api/login/", json={"email": "max@example.com", "password": NEW_PASSWORD}
    )
    assert new.status_code == 200
    assert (await new_client_video(platform, new)).status_code != 401


async def new_client_video(platform: Platform, login: httpx.Response) -> httpx.Response:
    client = platform.new_client(cookies={"access_token": login.cookies["access_token"]})
    return await client.get("/api/video/")


async def test_tokens_are_bound_to_their_purpose(platform: Platform) -> None:
    assert (await register(platform.client, "nina@example.com")).status_code == 201
    (activation,) = await platform.outbox.wait_for("nina@example.com")
    uid, token = activation.uid_and_token()
    as_reset = await platform.client.post(
        f"/api/password_confirm/{uid}/{token}/",
        json={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert as_reset.status_code == 400

    await platform.client.get(f"/api/activate/{uid}/{token}/")
    await platform.client.post("/api/password_reset/", json={"email": "nina@example.com"})
    reset = (await platform.outbox.wait_for("nina@example.com", count=2))[-1]
    r_uid, r_token = reset.uid_and_token()
    as_activation = await platform.client.get(f"/api/activate/{r_uid}/{r_token}/")
    assert as_activation.status_code == 400
    # the reset link still works: the failed misuse did not consume it
    ok = await platform.client.post(
        f"/api/password_confirm/{r_uid}/{r_token}/",
        json={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert ok.status_code == 200


async def test_admin_account_exists_at_start_up(platform: Platform) -> None:
    response = await platform.client.post(
        "/api/login/", json={"email": "admin@example.com", "password": "adminpassword"}
    )
    assert response.status_code == 200
