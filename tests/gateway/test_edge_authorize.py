"""`GET /internal/edge/authorize`, the edge's auth_request: authenticated like every signed-in
route (cookie or Bearer, revocation), the catalog names the rendition's objects, the answer is
a 204 with `X-Edge-Object-Prefix` and the CORS headers of the request's origin; any refusal is
the gateway's own JSON."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from common.kv.memory import InMemoryKeyValueStore
from common.security.revocation import revoke_session
from tests.support.gateway import (
    ORIGIN,
    OTHER_ORIGIN,
    FailingTransport,
    Tokens,
    bearer,
    cookie_header,
)
from tests.support.http import assert_json_error

AUTHORIZE = "/internal/edge/authorize?video_id=7&resolution=1080p"


class FakeCatalog:
    """The catalog's `/internal/edge/{video_id}/{resolution}`: video 7 is playable, its
    1080p answered by the 720p rendition; every call recorded."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.app = FastAPI()

        @self.app.get("/internal/edge/{video_id}/{resolution}")
        async def lookup(video_id: str, resolution: str, request: Request) -> JSONResponse:
            self.calls.append({"path": request.url.path, "headers": dict(request.headers)})
            if video_id == "7" and resolution in {"480p", "720p", "1080p"}:
                served = "480p" if resolution == "480p" else "720p"
                return JSONResponse({"prefix": f"hls/7/{served}"})
            if video_id == "500":
                return JSONResponse({"detail": "boom"}, status_code=500)
            return JSONResponse({"detail": "Not found."}, status_code=404)


@pytest.fixture
def fake_catalog() -> FakeCatalog:
    return FakeCatalog()


@pytest.fixture
async def edge_client(gateway_factory: Any, fake_catalog: FakeCatalog, identity_stub: FastAPI):  # type: ignore[no-untyped-def]
    upstreams = {
        "identity": httpx.ASGITransport(app=identity_stub),
        "catalog": httpx.ASGITransport(app=fake_catalog.app),
    }
    async with gateway_factory(upstreams=upstreams) as client:
        yield client


async def test_authorised_caller_gets_the_prefix_and_cors(
    edge_client: httpx.AsyncClient, tokens: Tokens, fake_catalog: FakeCatalog
) -> None:
    token = tokens.user(user_id=9, session_id="s-9")
    response = await edge_client.get(
        AUTHORIZE, headers={**cookie_header(access_token=token), "Origin": ORIGIN}
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert response.headers["x-edge-object-prefix"] == "hls/7/720p"
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]
    assert response.headers["x-request-id"]
    [call] = fake_catalog.calls
    assert call["path"] == "/internal/edge/7/1080p"
    # the catalog learns who asks, as on every forwarded signed-in request
    assert call["headers"]["x-videoflix-user-id"] == "9"


async def test_bearer_works_and_a_foreign_origin_gets_no_cors(
    edge_client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await edge_client.get(
        AUTHORIZE, headers={**bearer(tokens.user()), "Origin": OTHER_ORIGIN}
    )
    assert response.status_code == 204
    assert "access-control-allow-origin" not in response.headers


async def test_no_token_is_401_json_with_cors(
    edge_client: httpx.AsyncClient, fake_catalog: FakeCatalog
) -> None:
    response = await edge_client.get(AUTHORIZE, headers={"Origin": ORIGIN})
    assert_json_error(response, 401, detail=True)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert fake_catalog.calls == []


async def test_revoked_token_is_401(
    edge_client: httpx.AsyncClient, tokens: Tokens, kv: InMemoryKeyValueStore
) -> None:
    """A logout revokes the session: the very next authorisation is refused (the edge's
    cache of earlier answers is what bounds the delay, tests/integration/test_edge.py)."""
    token = tokens.user(user_id=9, session_id="s-9")
    assert (await edge_client.get(AUTHORIZE, headers=bearer(token))).status_code == 204
    await revoke_session(kv, "s-9", ttl_seconds=3600)
    assert_json_error(await edge_client.get(AUTHORIZE, headers=bearer(token)), 401)


@pytest.mark.parametrize(
    "query",
    [
        "video_id=8&resolution=720p",  # unknown to the catalog
        "video_id=7&resolution=4k",
        "video_id=7",
        "",
    ],
)
async def test_unknown_video_or_resolution_is_404(
    edge_client: httpx.AsyncClient, tokens: Tokens, query: str
) -> None:
    response = await edge_client.get(
        f"/internal/edge/authorize?{query}", headers=bearer(tokens.user())
    )
    assert_json_error(response, 404, detail=True)


async def test_catalog_failure_is_502_and_unreachable_is_503(
    gateway_factory: Any, edge_client: httpx.AsyncClient, tokens: Tokens, identity_stub: FastAPI
) -> None:
    broken = await edge_client.get(
        "/internal/edge/authorize?video_id=500&resolution=720p", headers=bearer(tokens.user())
    )
    assert_json_error(broken, 502, detail=True)
    upstreams = {
        "identity": httpx.ASGITransport(app=identity_stub),
        "catalog": FailingTransport(httpx.ConnectError("refused")),
    }
    async with gateway_factory(upstreams=upstreams) as client:
        response = await client.get(AUTHORIZE, headers=bearer(tokens.user()))
    assert_json_error(response, 503, detail=True)


async def test_a_broken_catalog_answer_is_502(
    gateway_factory: Any, tokens: Tokens, identity_stub: FastAPI
) -> None:
    upstreams = {
        "identity": httpx.ASGITransport(app=identity_stub),
        "catalog": FailingTransport(httpx.RemoteProtocolError("cut")),
    }
    async with gateway_factory(upstreams=upstreams) as client:
        response = await client.get(AUTHORIZE, headers=bearer(tokens.user()))
    assert_json_error(response, 502, detail=True)


async def test_head_is_answered_like_get(edge_client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await edge_client.head(AUTHORIZE, headers=bearer(tokens.user()))
    assert response.status_code == 204
    assert response.headers["x-edge-object-prefix"] == "hls/7/720p"
