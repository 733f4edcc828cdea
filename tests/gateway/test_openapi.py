"""The merged public schema and the docs page."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from gateway.openapi import merge_documents
from tests.support.gateway import FailingTransport
from tests.support.http import assert_json_error


async def test_openapi_merges_upstream_paths(
    client: httpx.AsyncClient, identity_stub: FastAPI, catalog_stub: FastAPI
) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["info"]["title"] == "Videoflix API"
    assert "/api/activate/{uidb64}/{token}/" in doc["paths"]
    assert "/api/video/{video_id}/{resolution}/index.m3u8" in doc["paths"]
    assert "/internal/stats" not in doc["paths"]  # not routed by the gateway
    assert "/healthz" not in doc["paths"]
    schemas = doc["components"]["schemas"]
    assert {"Activation", "Segment", "Message"} <= set(schemas)

    again = await client.get("/api/openapi.json/")
    assert again.json() == doc
    assert identity_stub.state.stub.openapi_fetches == 1  # cached
    assert catalog_stub.state.stub.openapi_fetches == 1


async def test_openapi_not_cached_until_every_upstream_answered(
    gateway_factory: Any, identity_stub: FastAPI
) -> None:
    down = FailingTransport(httpx.ConnectError("down"))
    identity = httpx.ASGITransport(app=identity_stub)
    async with gateway_factory(upstreams={"identity": identity, "catalog": down}) as client:
        first = await client.get("/api/openapi.json")
        assert first.status_code == 200
        assert "/api/activate/{uidb64}/{token}/" in first.json()["paths"]
        await client.get("/api/openapi.json")
    assert identity_stub.state.stub.openapi_fetches == 2


async def test_openapi_without_any_upstream_is_503(gateway_factory: Any) -> None:
    down = FailingTransport(httpx.ConnectError("down"))
    async with gateway_factory(upstreams={"identity": down, "catalog": down}) as client:
        assert_json_error(await client.get("/api/openapi.json"), 503, detail=True)


def test_colliding_schema_names_are_kept_apart() -> None:
    def doc(path: str, field: str) -> dict[str, Any]:
        ref = {"$ref": "#/components/schemas/Item"}
        return {
            "openapi": "3.1.0",
            "paths": {path: {"get": {"responses": {"200": {"content": {"x": {"schema": ref}}}}}}},
            "components": {"schemas": {"Item": {"properties": {field: {"type": "string"}}}}},
        }

    merged = merge_documents(
        {"identity": doc("/api/login/", "a"), "catalog": doc("/api/video/", "b")}, version="1"
    )
    schemas = merged["components"]["schemas"]
    assert schemas["Item"]["properties"] == {"a": {"type": "string"}}
    assert schemas["catalog_Item"]["properties"] == {"b": {"type": "string"}}
    video = merged["paths"]["/api/video/"]["get"]["responses"]["200"]["content"]["x"]
    assert video["schema"] == {"$ref": "#/components/schemas/catalog_Item"}


async def test_docs_page(client: httpx.AsyncClient) -> None:
    for path in ("/api/docs", "/api/docs/"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "/api/openapi.json" in response.text


async def test_docs_work_offline_from_the_gateways_own_assets(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/docs")).text
    assert "cdn." not in page and "https://" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/api/docs/assets/{asset}" in page
        response = await client.get(f"/api/docs/assets/{asset}")
        assert response.status_code == 200 and len(response.content) > 10_000
    missing = await client.get("/api/docs/assets/../../../etc/passwd")
    assert missing.status_code == 404 and set(missing.json()) == {"detail"}


async def test_fastapi_own_docs_are_off(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert_json_error(await client.get(path), 404, detail=True)
