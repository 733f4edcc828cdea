"""The merged public schema and the docs page."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.openapi import merge_documents
from tests.support.gateway import FailingTransport
from tests.support.http import assert_json_error
from tests.support.platform import make_settings


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


# ------------------------------------------------- the real services' schema tells the truth


async def _merged_schema(data: Path) -> dict[str, Any]:
    from allinone.app import build_app

    app = build_app(make_settings(data))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


@pytest.fixture(scope="module")
def real_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The merged schema of the real identity and catalog (all-in-one wiring)."""
    return asyncio.run(_merged_schema(tmp_path_factory.mktemp("openapi")))


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


ERRORS = {
    ("POST", "/api/register/"): {400, 413, 429},
    ("GET", "/api/activate/{uidb64}/{token}/"): {400, 404},
    ("POST", "/api/login/"): {400, 401, 403, 413, 429},
    ("POST", "/api/logout/"): {400, 403, 413},
    ("POST", "/api/token/refresh/"): {400, 401, 413},
    ("POST", "/api/password_reset/"): {400, 413, 429},
    ("POST", "/api/password_confirm/{uidb64}/{token}/"): {400, 404, 413, 429},
    ("GET", "/api/video/"): {401},
    ("GET", "/api/video/{video_id}/master.m3u8"): {401, 404, 416},
    ("GET", "/api/video/{video_id}/{resolution}/index.m3u8"): {401, 404, 416},
    ("GET", "/api/video/{video_id}/{resolution}/{segment}/"): {401, 404, 416},
    ("GET", "/api/thumbnails/{video_id}/{filename}"): {404, 416},
    ("GET", "/api/admin/videos/"): {401, 403},
    ("POST", "/api/admin/videos/"): {400, 401, 403, 413, 415},
    ("GET", "/api/admin/videos/{video_id}/"): {401, 403, 404},
    ("PATCH", "/api/admin/videos/{video_id}/"): {400, 401, 403, 404, 413, 415},
    ("DELETE", "/api/admin/videos/{video_id}/"): {401, 403, 404},
    ("POST", "/api/admin/videos/{video_id}/retry/"): {401, 403, 404, 409, 413},
    ("GET", "/api/admin/events/"): {401, 403},
    ("OPTIONS", "/api/admin/uploads/"): {401, 403},
    ("POST", "/api/admin/uploads/"): {400, 401, 403, 412, 413},
    ("HEAD", "/api/admin/uploads/{upload_id}"): {401, 403, 404, 412},
    ("PATCH", "/api/admin/uploads/{upload_id}"): {400, 401, 403, 404, 409, 412, 415, 460},
    ("DELETE", "/api/admin/uploads/{upload_id}"): {401, 403, 404, 409, 412},
    ("GET", "/api/admin/users/"): {400, 401, 403},
    ("GET", "/api/admin/users/{user_id}/"): {401, 403, 404},
    ("PATCH", "/api/admin/users/{user_id}/"): {400, 401, 403, 404, 413},
    ("POST", "/api/admin/users/{user_id}/resend-activation/"): {401, 403, 404, 409, 413, 429},
}
REFERENCED = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    412: "PreconditionFailed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    416: "RangeNotSatisfiable",
    429: "TooManyRequests",
    460: "ChecksumMismatch",
}


def test_every_route_declares_exactly_the_errors_it_can_answer(
    real_schema: dict[str, Any],
) -> None:
    operations = _operations(real_schema)
    assert set(operations) == set(ERRORS)
    for key, operation in operations.items():
        errors = {int(s) for s in operation["responses"] if int(s) >= 400}
        assert errors == ERRORS[key], key
        for status in errors - {400} if key[1].startswith("/api/activate/") else errors:
            ref = f"#/components/responses/{REFERENCED[status]}"
            assert operation["responses"][str(status)] == {"$ref": ref}, (key, status)


def test_validation_is_400_in_the_contracts_shape_never_422(
    real_schema: dict[str, Any],
) -> None:
    text = json.dumps(real_schema)
    assert '"422"' not in text and "HTTPValidationError" not in text
    error = real_schema["components"]["schemas"]["Error"]
    assert error["type"] == "object" and error["minProperties"] == 1
    leaf = error["additionalProperties"]["anyOf"]
    assert {"type": "string"} in leaf
    assert {"type": "array", "items": {"type": "string"}, "minItems": 1} in leaf
    for name, response in real_schema["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, name
    retry = real_schema["components"]["responses"]["TooManyRequests"]["headers"]
    assert retry["Retry-After"]["schema"]["type"] == "integer"


def test_authenticated_routes_declare_their_security(real_schema: dict[str, Any]) -> None:
    schemes = real_schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["accessCookie"] == {"type": "apiKey", "in": "cookie", "name": "access_token"}
    for (_, path), operation in _operations(real_schema).items():
        secured = path.startswith(("/api/video/", "/api/admin/"))
        assert ("security" in operation) == secured, path


def test_admin_bodies_are_declared(real_schema: dict[str, Any]) -> None:
    operations = _operations(real_schema)
    upload = operations["POST", "/api/admin/videos/"]["requestBody"]
    assert upload["required"] is True
    form = upload["content"]["multipart/form-data"]["schema"]
    assert set(form["properties"]) == {"file", "title", "description", "category", "thumbnail"}
    assert set(form["required"]) == {"file", "title", "category"}
    assert form["properties"]["file"]["format"] == "binary"
    assert form["properties"]["thumbnail"]["format"] == "binary"

    patch = operations["PATCH", "/api/admin/videos/{video_id}/"]["requestBody"]["content"]
    assert set(patch) == {"application/json", "multipart/form-data"}
    assert set(patch["application/json"]["schema"]["properties"]) == {
        "title",
        "description",
        "category",
    }
    form = patch["multipart/form-data"]["schema"]
    assert set(form["properties"]) == {"title", "description", "category", "thumbnail"}
    assert "required" not in form


def test_media_routes_declare_their_content_types(real_schema: dict[str, Any]) -> None:
    operations = _operations(real_schema)
    expected = {
        "/api/video/{video_id}/master.m3u8": {"application/vnd.apple.mpegurl"},
        "/api/video/{video_id}/{resolution}/index.m3u8": {"application/vnd.apple.mpegurl"},
        "/api/video/{video_id}/{resolution}/{segment}/": {"video/MP2T"},
        "/api/thumbnails/{video_id}/{filename}": {"image/jpeg", "image/png", "image/webp"},
    }
    for path, types in expected.items():
        responses = operations["GET", path]["responses"]
        assert set(responses["200"]["content"]) == types
        assert set(responses["206"]["content"]) == types
        assert "304" in responses


def test_gateway_answers_are_added_to_upstream_operations() -> None:
    ok = {"200": {"description": "OK"}}
    doc = {
        "openapi": "3.1.0",
        "paths": {
            "/api/login/": {"post": {"responses": dict(ok)}},
            "/api/admin/videos/{video_id}/": {"patch": {"responses": dict(ok)}},
            "/api/video/": {"get": {"responses": dict(ok)}},
        },
    }
    merged = merge_documents({"identity": doc}, version="1")
    login = merged["paths"]["/api/login/"]["post"]
    assert set(login["responses"]) == {"200", "413", "429"} and "security" not in login
    patch = merged["paths"]["/api/admin/videos/{video_id}/"]["patch"]
    assert set(patch["responses"]) == {"200", "401", "403", "404"}  # streamed: no cap here
    assert patch["security"] == [{"bearer": []}, {"accessCookie": []}]
    videos = merged["paths"]["/api/video/"]["get"]
    assert set(videos["responses"]) == {"200", "401"}
