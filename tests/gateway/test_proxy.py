"""The reverse proxy: headers in and out, bodies streamed both ways, upstream failures."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.routes import JSON_BODY_LIMIT
from tests.support.gateway import (
    BIG_SIZE,
    RANGE_BODY,
    FailingTransport,
    Tokens,
    bearer,
    echoed_headers,
)
from tests.support.http import assert_json_error, free_port, serve

SPOOFED = {
    "X-Videoflix-User-Id": "1",
    "x-videoflix-user-admin": "1",
    "X-VIDEOFLIX-USER-EMAIL": "admin@example.com",
    "X-Videoflix-Session-Id": "stolen",
}


async def test_spoofed_identity_headers_never_reach_public_upstream(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/login/", json={}, headers={**SPOOFED, "X_Videoflix_User_Id": "1"}
    )
    seen = echoed_headers(response)
    assert not [h for h in seen if h.replace("_", "-").startswith("x-videoflix-")]


async def test_spoofed_identity_headers_replaced_by_the_verified_ones(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.get("/api/video/", headers={**SPOOFED, **bearer(tokens.user())})
    seen = echoed_headers(response)
    assert seen["x-videoflix-user-id"] == ["7"]
    assert seen["x-videoflix-user-admin"] == ["0"]
    assert seen["x-videoflix-user-email"] == ["user7@example.com"]
    assert seen["x-videoflix-session-id"] != ["stolen"]


async def test_spoofed_admin_header_does_not_make_an_admin(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.post("/api/admin/videos/", headers={**SPOOFED, **bearer(tokens.user())})
    assert_json_error(response, 403, detail=True)


async def test_forwarding_headers(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/login/",
        json={},
        headers={
            "X-Forwarded-For": "6.6.6.6",
            "X-Real-IP": "6.6.6.6",
            "Forwarded": "for=6.6.6.6",
            "X-Request-ID": "req-abc.1",
            "Accept-Language": "de",
        },
    )
    seen = echoed_headers(response)
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == ["127.0.0.1:8000"]
    assert "x-real-ip" not in seen and "forwarded" not in seen
    assert seen["x-request-id"] == ["req-abc.1"]
    assert seen["accept-language"] == ["de"]
    assert response.headers["x-request-id"] == "req-abc.1"


async def test_request_id_generated_when_missing_or_odd(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"X-Request-ID": "bad value\twith junk"}):
        response = await client.post("/api/login/", json={}, headers=headers)
        (request_id,) = echoed_headers(response)["x-request-id"]
        assert len(request_id) == 32
        assert response.headers["x-request-id"] == request_id


async def test_hop_by_hop_request_headers_are_dropped(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/login/",
        json={},
        headers={
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "1",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic eA==",
            "TE": "trailers",
            "Upgrade": "h2c",
            "Expect": "100-continue",
        },
    )
    seen = echoed_headers(response)
    for name in ("connection", "x-secret-hop", "keep-alive", "proxy-authorization", "te"):
        assert name not in seen, name
    assert "upgrade" not in seen and "expect" not in seen
    assert seen["host"] == ["identity.test"]


async def test_hop_by_hop_response_headers_are_dropped(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/login/", json={}, headers={"X-Stub": "hop"})
    assert response.status_code == 200
    for name in ("keep-alive", "x-upstream-secret-hop", "connection"):
        assert name not in response.headers, name


async def test_every_set_cookie_passes_intact(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/login/", json={}, headers={"X-Stub": "cookies"})
    assert response.headers.get_list("set-cookie") == [
        "access_token=a1; HttpOnly; Path=/; SameSite=Lax",
        "refresh_token=r1; expires=Thu, 01 Jan 2099 00:00:00 GMT; HttpOnly; Path=/",
        "csrftoken=c1; Path=/; SameSite=Lax",
    ]


async def test_cookies_and_body_are_forwarded(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/register/",
        json={"email": "a@b.c", "password": "pässword"},
        headers={"Cookie": "csrftoken=x; other=y"},
    )
    echo = response.json()
    assert echo["cookies"] == {"csrftoken": "x", "other": "y"}
    assert echo["body"].encode("latin-1").decode() == '{"email":"a@b.c","password":"pässword"}'


async def test_streamed_request_body_is_forwarded(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(50):
            yield f"chunk{i:02d};".encode()

    response = await client.post(
        "/api/admin/videos/",
        content=chunks(),
        headers=bearer(tokens.admin()),
    )
    assert response.status_code == 200
    assert response.json()["body"] == "".join(f"chunk{i:02d};" for i in range(50))


async def test_empty_post_reaches_upstream_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/token/refresh/", headers={"Content-Type": "application/json"}
    )
    echo = response.json()
    assert echo["body"] == ""
    assert echo["method"] == "POST"


async def test_upstream_json_error_passes_through(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.get(
        "/api/video/99/", headers={**bearer(tokens.user()), "X-Stub": "json-404"}
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "No such video."}


async def test_upstream_plain_error_becomes_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/login/", json={}, headers={"X-Stub": "plain-500"})
    assert assert_json_error(response, 500, detail=True) == {"detail": "Internal server error."}


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (httpx.ConnectError("refused"), 503),
        (httpx.ConnectTimeout("slow connect"), 503),
        (httpx.ReadTimeout("slow"), 504),
        (httpx.WriteTimeout("slow"), 504),
        (httpx.RemoteProtocolError("garbage"), 502),
        (httpx.ReadError("reset"), 502),
        (RuntimeError("upstream app crashed"), 502),
    ],
)
async def test_upstream_failures_map_to_json(
    gateway_factory: Any, tokens: Tokens, exc: Exception, status: int
) -> None:
    failing = FailingTransport(exc)
    async with gateway_factory(upstreams={"identity": failing, "catalog": failing}) as client:
        assert_json_error(await client.post("/api/login/", json={}), status, detail=True)
        assert_json_error(
            await client.get("/api/video/", headers=bearer(tokens.user())), status, detail=True
        )


async def test_upstream_unreachable_over_the_network_is_503(gateway_factory: Any) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    async with gateway_factory(upstreams={}, identity_url=closed, catalog_url=closed) as client:
        assert_json_error(await client.post("/api/login/", json={}), 503, detail=True)


async def test_slow_upstream_over_the_network_is_504(
    gateway_factory: Any, identity_stub: FastAPI
) -> None:
    async with (
        serve(identity_stub) as url,
        gateway_factory(upstreams={}, identity_url=url, upstream_timeout_seconds=0.5) as client,
    ):
        try:
            response = await client.post("/api/login/", json={}, headers={"X-Stub": "hang"})
        finally:
            identity_stub.state.stub.release.set()
        assert_json_error(response, 504, detail=True)


async def test_large_body_passes_through(client: httpx.AsyncClient, tokens: Tokens) -> None:
    digest = hashlib.sha256()
    size = 0
    async with client.stream(
        "GET", "/api/video/1/1080p/000.ts/", headers={**bearer(tokens.user()), "X-Stub": "big"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "video/MP2T"
        async for chunk in response.aiter_raw():
            digest.update(chunk)
            size += len(chunk)
    assert size == BIG_SIZE
    assert digest.hexdigest() == hashlib.sha256(b"v" * BIG_SIZE).hexdigest()


async def test_range_request(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.get(
        "/api/video/1/480p/000.ts",
        headers={**bearer(tokens.user()), "X-Stub": "range", "Range": "bytes=100-199"},
    )
    assert response.status_code == 206
    assert response.headers["x-seen-range"] == "bytes=100-199"
    assert response.headers["content-range"] == f"bytes 100-199/{len(RANGE_BODY)}"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == "100"
    assert response.content == RANGE_BODY[100:200]


async def test_stream_over_the_network_is_relayed_as_it_comes(
    settings: Any, ports: Any, catalog_stub: FastAPI, tokens: Tokens
) -> None:
    """The gateway hands out the first bytes while the upstream is still producing."""
    from gateway.app import create_app

    async with serve(catalog_stub) as upstream_url:
        gateway = create_app(settings.model_copy(update={"catalog_url": upstream_url}), ports)
        async with (
            serve(gateway, lifespan="on") as gateway_url,
            httpx.AsyncClient(base_url=gateway_url) as client,
            client.stream(
                "GET",
                "/api/video/1/720p/000.ts",
                headers={**bearer(tokens.user()), "X-Stub": "slow-stream"},
            ) as response,
        ):
            assert response.status_code == 200
            chunks = response.aiter_raw()
            first = await asyncio.wait_for(chunks.__anext__(), timeout=5)
            assert first == b"first"
            catalog_stub.state.stub.release.set()
            rest = b"".join([c async for c in chunks])
            assert rest == b"second"


async def test_large_body_over_the_network(
    settings: Any, ports: Any, catalog_stub: FastAPI, tokens: Tokens
) -> None:
    from gateway.app import create_app

    async with serve(catalog_stub) as upstream_url:
        gateway = create_app(settings.model_copy(update={"catalog_url": upstream_url}), ports)
        async with (
            serve(gateway, lifespan="on") as gateway_url,
            httpx.AsyncClient(base_url=gateway_url) as client,
            client.stream(
                "GET", "/api/video/1/1080p/1.ts", headers={**bearer(tokens.user()), "X-Stub": "big"}
            ) as response,
        ):
            assert response.status_code == 200
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
            assert size == BIG_SIZE


async def test_client_going_away_closes_the_upstream_stream(
    settings: Any, ports: Any, catalog_stub: FastAPI, tokens: Tokens
) -> None:
    from gateway.app import create_app

    state = catalog_stub.state.stub
    async with serve(catalog_stub) as upstream_url:
        gateway = create_app(settings.model_copy(update={"catalog_url": upstream_url}), ports)
        async with serve(gateway, lifespan="on") as gateway_url:
            async with (
                httpx.AsyncClient(base_url=gateway_url) as client,
                client.stream(
                    "GET",
                    "/api/video/1/720p/000.ts",
                    headers={**bearer(tokens.user()), "X-Stub": "slow-stream"},
                ) as response,
            ):
                assert await response.aiter_raw().__anext__() == b"first"
            # the browser left before the upstream finished: its stream must end too
            await asyncio.wait_for(state.stream_closed.wait(), timeout=5)
            assert not state.release.is_set()


async def test_json_routes_refuse_oversized_bodies_before_any_upstream_reads_them(
    client: httpx.AsyncClient,
) -> None:
    huge = b'{"email": "' + b"a" * (JSON_BODY_LIMIT + 1) + b'"}'
    declared = await client.post("/api/login/", content=huge)
    assert_json_error(declared, 413, detail=True)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(JSON_BODY_LIMIT // 1024 + 2):
            yield b"x" * 1024

    streamed = await client.post("/api/register/", content=chunks())
    assert_json_error(streamed, 413, detail=True)


async def test_a_chunked_json_body_under_the_limit_arrives_whole(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": '
        yield b'"a@b.c"}'

    response = await client.post("/api/password_reset/", content=chunks())
    echo = response.json()
    assert echo["body"] == '{"email": "a@b.c"}'
    assert dict(echo["headers"])["content-length"] == str(len(echo["body"]))


async def test_uploads_are_not_capped_by_the_json_limit(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    body = b"v" * (JSON_BODY_LIMIT * 4)
    response = await client.post("/api/admin/videos/", content=body, headers=bearer(tokens.admin()))
    assert response.status_code == 200
    assert len(response.json()["body"]) == len(body)


async def test_an_in_process_upstream_that_never_answers_is_502(gateway_factory: Any) -> None:
    """As over HTTP (the transport's "sent no response"): a JSON 502, never an empty reply."""

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        return None  # an ASGI app that returns without a response

    async with gateway_factory(in_process=True, identity_app=silent) as client:
        assert_json_error(await client.post("/api/login/", json={}), 502, detail=True)
