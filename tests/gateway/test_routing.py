"""Every public path reaches the right upstream, with and without its trailing slash."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from tests.support.gateway import GatewayClient, Tokens, bearer, cookie_header
from tests.support.http import assert_json_error, call_asgi

IDENTITY = [
    ("POST", "/api/register/"),
    ("GET", "/api/activate/MQ/abc-DEF_123/"),
    ("POST", "/api/login/"),
    ("POST", "/api/token/refresh/"),
    ("POST", "/api/password_reset/"),
    ("POST", "/api/password_confirm/MQ/abc-DEF_123/"),
]
CATALOG_USER = [
    ("GET", "/api/video/"),
    ("GET", "/api/video/3/720p/index.m3u8"),
    ("GET", "/api/video/3/720p/000.ts/"),
    ("GET", "/api/video/3/master.m3u8"),
]
CATALOG_ADMIN = [
    ("GET", "/api/admin/videos/"),
    ("POST", "/api/admin/videos/"),
    ("GET", "/api/admin/videos/3/"),
    ("PATCH", "/api/admin/videos/3/"),
    ("DELETE", "/api/admin/videos/3/"),
]


def _variants(cases: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for method, path in cases:
        out.append((method, path))
        out.append((method, path[:-1] if path.endswith("/") else path + "/"))
    return out


@pytest.mark.parametrize(("method", "path"), _variants(IDENTITY))
async def test_identity_routes(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={"email": "a@b.c"})
    assert response.status_code == 200, response.text
    echo = response.json()
    assert echo["service"] == "identity"
    assert echo["path"] == path  # forwarded unchanged, slash or not
    assert echo["method"] == method


async def test_logout_goes_to_identity(client: httpx.AsyncClient) -> None:
    for path in ("/api/logout/", "/api/logout"):
        response = await client.post(
            path,
            headers={**cookie_header(refresh_token="r", csrftoken="c"), "X-CSRFToken": "c"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["service"] == "identity"
        assert response.json()["path"] == path


@pytest.mark.parametrize(("method", "path"), _variants(CATALOG_USER))
async def test_video_routes(
    client: httpx.AsyncClient, tokens: Tokens, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=bearer(tokens.user()))
    assert response.status_code == 200, response.text
    assert response.json()["service"] == "catalog"
    assert response.json()["path"] == path


@pytest.mark.parametrize(("method", "path"), _variants(CATALOG_ADMIN))
async def test_admin_routes(
    client: httpx.AsyncClient, tokens: Tokens, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=bearer(tokens.admin()))
    assert response.status_code == 200, response.text
    assert response.json()["service"] == "catalog"
    assert response.json()["path"] == path


async def test_head_on_video(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.head("/api/video/3/480p/000.ts", headers=bearer(tokens.user()))
    assert response.status_code == 200


async def test_query_string_forwarded(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.get("/api/video/?a=1&b=x%20y", headers=bearer(tokens.user()))
    assert response.json()["query"] == "a=1&b=x%20y"


@pytest.mark.parametrize(
    "path",
    ["/api/unknown/", "/api/registerx/", "/api/", "/", "/api/activate/onlyuid/", "/docs"],
)
async def test_unknown_path_is_json_404(client: httpx.AsyncClient, path: str) -> None:
    assert_json_error(await client.get(path), 404, detail=True)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/login/", "POST"),
        ("PUT", "/api/register", "POST"),
        ("POST", "/api/activate/MQ/tok/", "GET"),
        ("DELETE", "/api/video/1/", "GET"),
        ("OPTIONS", "/api/login/", "POST"),  # not a preflight: no Access-Control-Request-Method
    ],
)
async def test_wrong_method_is_json_405(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert_json_error(response, 405, detail=True)
    assert allowed in response.headers["allow"]


def _allow(response: httpx.Response) -> set[str]:
    return {m.strip() for m in response.headers["allow"].split(",")}


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/register/", {"POST"}),
        ("/api/activate/MQ/tok/", {"GET", "HEAD"}),
        ("/api/login/", {"POST"}),
        ("/api/logout/", {"POST"}),
        ("/api/token/refresh/", {"POST"}),
        ("/api/password_reset/", {"POST"}),
        ("/api/password_confirm/MQ/tok/", {"POST"}),
        ("/api/video/", {"GET", "HEAD"}),
        ("/api/video/1/master.m3u8", {"GET", "HEAD"}),
        ("/api/video/1/480p/index.m3u8", {"GET", "HEAD"}),
        ("/api/video/1/480p/000.ts/", {"GET", "HEAD"}),
        ("/api/thumbnails/1/abc.jpg", {"GET", "HEAD"}),
        ("/api/admin/videos/", {"GET", "HEAD", "POST"}),
        ("/api/admin/videos/1/", {"GET", "HEAD", "PATCH", "DELETE"}),
    ],
)
async def test_405_allow_names_exactly_the_methods_of_the_resource(
    client: httpx.AsyncClient, tokens: Tokens, path: str, allowed: set[str]
) -> None:
    """Every route, with and without its slash, for a method it lacks (and for ones no route
    of the gateway has): the gateway answers before any upstream, authenticated or not."""
    for variant in (path, path[:-1] if path.endswith("/") else path + "/"):
        for method in sorted({"PUT", "POST", "DELETE", "OPTIONS", "TRACE"} - allowed):
            for headers in ({}, bearer(tokens.admin())):
                response = await client.request(method, variant, headers=headers)
                assert_json_error(response, 405, detail=True)
                assert _allow(response) == allowed, (method, variant)


async def test_no_redirects(client: httpx.AsyncClient) -> None:
    for path in ("/api/login", "/api/login/"):
        response = await client.post(path, json={})
        assert response.status_code == 200
        assert "location" not in response.headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/video/../admin/videos/",
        "/api/video/%2e%2e/admin/videos/",
        "/api/video/1%2F..%2F..%2Fadmin/videos/",
        "/api/video/./1/",
    ],
)
async def test_dot_segments_are_refused(
    client: GatewayClient, tokens: Tokens, catalog_stub: FastAPI, path: str
) -> None:
    """The outgoing URL would be normalised, escaping the policy that was checked here."""
    headers = {"host": "127.0.0.1:8000", "authorization": f"Bearer {tokens.user()}"}
    status, headers, body = await call_asgi(client.app, path.encode(), headers=headers)
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert isinstance(json.loads(body)["detail"], str)
