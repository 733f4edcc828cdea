"""The csrftoken is bound to the session: on a cookie-authenticated write the header must be
the token whose digest the access token carries, not merely equal to the cookie. A planted
`csrftoken` cookie with a matching header (someone who can write cookies for our host) fails.
"""

from __future__ import annotations

import httpx
import pytest

from common.security.csrf import csrf_digest, csrf_key, csrf_token, matches
from tests.support.gateway import Tokens, bearer, cookie_header
from tests.support.http import assert_json_error

SESSION_TOKEN = "the-sessions-own-token"
WRITES = [("POST", "/api/admin/videos/"), ("PATCH", "/api/admin/videos/1/")]


def as_admin(access: str, csrf: str) -> dict[str, str]:
    return {**cookie_header(access_token=access, csrftoken=csrf), "X-CSRFToken": csrf}


@pytest.mark.parametrize(("method", "path"), WRITES)
async def test_a_planted_csrftoken_with_a_matching_header_is_refused(
    client: httpx.AsyncClient, tokens: Tokens, method: str, path: str
) -> None:
    access = tokens.admin(csrf=SESSION_TOKEN)
    planted = await client.request(method, path, headers=as_admin(access, "planted"))
    assert_json_error(planted, 403, detail=True)
    genuine = await client.request(method, path, headers=as_admin(access, SESSION_TOKEN))
    assert genuine.status_code == 200, genuine.text


async def test_another_sessions_csrftoken_is_refused(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    access = tokens.admin(csrf=SESSION_TOKEN)
    other = "the-token-of-another-session"
    tokens.admin(csrf=other)
    response = await client.post("/api/admin/videos/", headers=as_admin(access, other))
    assert_json_error(response, 403, detail=True)


async def test_an_access_token_without_the_binding_passes_no_cookie_write(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.post(
        "/api/admin/videos/", headers=as_admin(tokens.admin(), SESSION_TOKEN)
    )
    assert_json_error(response, 403, detail=True)


async def test_bearer_writes_and_cookie_reads_need_no_csrftoken(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    assert (
        await client.post("/api/admin/videos/", headers=bearer(tokens.admin()), content=b"x")
    ).status_code == 200
    read = await client.get(
        "/api/admin/videos/", headers=cookie_header(access_token=tokens.admin())
    )
    assert read.status_code == 200


def test_tokens_are_per_session_url_safe_and_checked_by_digest() -> None:
    key = csrf_key("identity's signing key")
    first, second = csrf_token(key, "session-1"), csrf_token(key, "session-2")
    assert first != second and first == csrf_token(key, "session-1")
    assert first != csrf_token(csrf_key("another key"), "session-1")
    assert all(c.isalnum() or c in "-_" for c in first + second)
    assert matches(first, csrf_digest(first))
    assert not matches(second, csrf_digest(first))
    assert not matches("", csrf_digest(""))
    assert not matches(first, None)
