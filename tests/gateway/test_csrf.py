"""Double-submit CSRF on cookie-authenticated writes and on logout; refresh is exempt."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.gateway import Tokens, bearer, cookie_header
from tests.support.http import assert_json_error


def _admin_cookies(tokens: Tokens, csrf: str | None = "tok-123") -> dict[str, str]:
    cookies = {"access_token": tokens.admin(csrf="tok-123")}  # the session's csrftoken
    if csrf is not None:
        cookies["csrftoken"] = csrf
    return cookie_header(**cookies)


# every unsafe method of the admin resources (PUT is none of theirs: a 405, test_routing.py)
ADMIN_WRITES = [
    ("POST", "/api/admin/videos/"),
    ("PATCH", "/api/admin/videos/1/"),
    ("DELETE", "/api/admin/videos/1/"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_WRITES)
@pytest.mark.parametrize(
    ("cookie", "header"),
    [("tok-123", None), ("tok-123", "tok-124"), (None, "tok-123"), (None, None), ("tok-123", "")],
    ids=["missing-header", "mismatch", "missing-cookie", "neither", "empty-header"],
)
async def test_admin_write_with_cookie_auth_needs_csrf(
    client: httpx.AsyncClient,
    tokens: Tokens,
    method: str,
    path: str,
    cookie: str | None,
    header: str | None,
) -> None:
    headers = _admin_cookies(tokens, cookie)
    if header is not None:
        headers["X-CSRFToken"] = header
    response = await client.request(method, path, headers=headers)
    assert_json_error(response, 403, detail=True)


@pytest.mark.parametrize(("method", "path"), ADMIN_WRITES)
async def test_admin_write_with_matching_csrf_is_forwarded(
    client: httpx.AsyncClient, tokens: Tokens, method: str, path: str
) -> None:
    headers = {**_admin_cookies(tokens), "X-CSRFToken": "tok-123"}
    response = await client.request(method, path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["service"] == "catalog"


async def test_admin_read_with_cookie_needs_no_csrf(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.get("/api/admin/videos/", headers=_admin_cookies(tokens, None))
    assert response.status_code == 200


async def test_admin_write_with_bearer_needs_no_csrf(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.post("/api/admin/videos/", headers=bearer(tokens.admin()), content=b"x")
    assert response.status_code == 200


# ---------------------------------------------------------------- logout


async def test_logout_without_refresh_cookie_is_400_before_csrf(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/logout/",
        headers={
            **cookie_header(csrftoken="a"),
            "X-CSRFToken": "b",
            "Content-Type": "application/json",
        },
    )
    assert_json_error(response, 400, detail=True)
    assert_json_error(await client.post("/api/logout/"), 400, detail=True)


@pytest.mark.parametrize("header", [None, "wrong"])
async def test_logout_with_bad_csrf_is_403(client: httpx.AsyncClient, header: str | None) -> None:
    headers = cookie_header(refresh_token="r", csrftoken="good")
    if header is not None:
        headers["X-CSRFToken"] = header
    assert_json_error(await client.post("/api/logout/", headers=headers), 403, detail=True)


async def test_logout_needs_csrf_even_with_bearer(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = {**cookie_header(refresh_token="r"), **bearer(tokens.user())}
    assert_json_error(await client.post("/api/logout/", headers=headers), 403, detail=True)


async def test_logout_forwarded_with_expired_access_token(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = {
        **cookie_header(
            access_token=tokens.user(lifetime=-3600), refresh_token="r-1", csrftoken="c-1"
        ),
        "X-CSRFToken": "c-1",
        "Content-Type": "application/json",
    }
    response = await client.post("/api/logout/", headers=headers)
    assert response.status_code == 200, response.text
    echo = response.json()
    assert echo["service"] == "identity"
    assert echo["cookies"]["refresh_token"] == "r-1"
    assert echo["body"] == ""


async def test_refresh_is_exempt_from_csrf(client: httpx.AsyncClient) -> None:
    headers = {
        **cookie_header(refresh_token="r", csrftoken="c"),
        "Content-Type": "application/json",
    }
    response = await client.post("/api/token/refresh/", headers=headers)
    assert response.status_code == 200
    assert response.json()["cookies"]["refresh_token"] == "r"
    # and without a refresh cookie it is identity's 400 to give, not the gateway's
    response = await client.post("/api/token/refresh")
    assert response.json()["service"] == "identity"


async def test_video_get_with_cookie_needs_no_csrf(client: httpx.AsyncClient, tokens: Any) -> None:
    response = await client.get("/api/video/", headers=cookie_header(access_token=tokens.user()))
    assert response.status_code == 200
