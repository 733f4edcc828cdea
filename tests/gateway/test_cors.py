"""CORS: allow-listed origins get credentials on every answer; preflights are JSON 2xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.gateway import ORIGIN, OTHER_ORIGIN, FailingTransport, Tokens, bearer


def _preflight_headers(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-csrftoken",
    }


@pytest.mark.parametrize("path", ["/api/login/", "/api/video/", "/api/admin/videos/1/", "/nope"])
async def test_preflight_allowed_origin(client: httpx.AsyncClient, path: str) -> None:
    response = await client.options(path, headers=_preflight_headers(ORIGIN))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    response.json()
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"} <= methods
    allow_headers = response.headers["access-control-allow-headers"]
    assert "*" not in allow_headers
    names = {h.strip().lower() for h in allow_headers.split(",")}
    assert {"content-type", "x-csrftoken", "authorization", "range"} <= names
    assert int(response.headers["access-control-max-age"]) > 0
    assert "Origin" in response.headers["vary"]


async def test_preflight_localhost_origin_is_allowed_too(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/login/", headers=_preflight_headers("http://localhost:5500")
    )
    assert response.headers["access-control-allow-origin"] == "http://localhost:5500"


@pytest.mark.parametrize("origin", [OTHER_ORIGIN, "http://127.0.0.1:5500.evil.example", "null"])
async def test_preflight_foreign_origin(client: httpx.AsyncClient, origin: str) -> None:
    response = await client.options("/api/login/", headers=_preflight_headers(origin))
    assert 200 <= response.status_code < 300
    response.json()
    assert not [h for h in response.headers if h.lower().startswith("access-control-allow")]


async def test_simple_request_from_foreign_origin_has_no_acao(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/login/", json={}, headers={"Origin": OTHER_ORIGIN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


def _assert_cors(response: httpx.Response) -> None:
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]
    exposed = response.headers["access-control-expose-headers"]
    for name in ("Content-Length", "Content-Range", "Accept-Ranges", "ETag"):
        assert name in exposed


class ExplodingVerifier:
    def verify(self, token: str) -> Any:
        raise RuntimeError("bug")


async def test_cors_on_200_401_404(client: httpx.AsyncClient, tokens: Tokens) -> None:
    origin = {"Origin": ORIGIN}
    ok = await client.get("/api/video/", headers={**origin, **bearer(tokens.user())})
    assert ok.status_code == 200
    _assert_cors(ok)
    unauthenticated = await client.get("/api/video/", headers=origin)
    assert unauthenticated.status_code == 401
    _assert_cors(unauthenticated)
    missing = await client.get("/api/nothing/", headers=origin)
    assert missing.status_code == 404
    _assert_cors(missing)
    wrong_method = await client.get("/api/login/", headers=origin)
    assert wrong_method.status_code == 405
    _assert_cors(wrong_method)


async def test_cors_on_429(gateway_factory: Any) -> None:
    async with gateway_factory(rate_limit_login=1) as client:
        await client.post("/api/login/", json={}, headers={"Origin": ORIGIN})
        response = await client.post("/api/login/", json={}, headers={"Origin": ORIGIN})
    assert response.status_code == 429
    _assert_cors(response)


async def test_cors_on_502(gateway_factory: Any) -> None:
    broken = FailingTransport(httpx.RemoteProtocolError("garbage"))
    async with gateway_factory(upstreams={"identity": broken, "catalog": broken}) as client:
        response = await client.post("/api/login/", json={}, headers={"Origin": ORIGIN})
    assert response.status_code == 502
    _assert_cors(response)


async def test_cors_on_500(gateway_factory: Any, tokens: Tokens) -> None:
    async with gateway_factory(token_verifier=ExplodingVerifier()) as client:
        response = await client.get(
            "/api/video/", headers={"Origin": ORIGIN, **bearer(tokens.user())}
        )
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}
    _assert_cors(response)


async def test_upstream_cors_headers_never_leak(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/login/", json={}, headers={"Origin": OTHER_ORIGIN, "X-Stub": "hop"}
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    response = await client.post(
        "/api/login/", json={}, headers={"Origin": ORIGIN, "X-Stub": "hop"}
    )
    assert response.headers.get_list("access-control-allow-origin") == [ORIGIN]
