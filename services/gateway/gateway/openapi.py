"""`/api/openapi.json`: the public API's schema, merged from the upstreams' own schemas;
`/api/docs`: Swagger UI over it."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Mapping
from typing import Any

import swagger_ui_bundle
from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from common.errors import error_response
from gateway.proxy import Proxy
from gateway.routes import is_routed

log = logging.getLogger(__name__)

TITLE = "Videoflix API"
OPENAPI_PATH = "/api/openapi.json"
_REF_PREFIX = "#/components/schemas/"


def merge_documents(docs: Mapping[str, dict[str, Any]], *, version: str) -> dict[str, Any]:
    """Union of the routed `paths` and of `components.schemas`; a schema name two upstreams
    define differently is prefixed with the second one's service name."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    openapi = "3.1.0"
    for service, original in docs.items():
        doc = copy.deepcopy(original)
        openapi = str(doc.get("openapi", openapi))
        own = doc.get("components", {}).get("schemas", {})
        renames = {
            name: f"{service}_{name}"
            for name, schema in own.items()
            if name in schemas and schemas[name] != schema
        }
        if renames:
            doc = _rename_refs(doc, renames)
            own = doc.get("components", {}).get("schemas", {})
        for name, schema in own.items():
            schemas[renames.get(name, name)] = schema
        for path, item in doc.get("paths", {}).items():
            if is_routed(path):
                paths[path] = item
    return {
        "openapi": openapi,
        "info": {"title": TITLE, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _rename_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _rename_refs(v, renames) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            name = ref.removeprefix(_REF_PREFIX)
            out["$ref"] = _REF_PREFIX + renames.get(name, name)
        return out
    if isinstance(node, list):
        return [_rename_refs(v, renames) for v in node]
    return node


class OpenApiAggregator:
    def __init__(self, proxy: Proxy, *, version: str) -> None:
        self.proxy = proxy
        self.version = version
        self._cached: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any] | None:
        """The merged schema; cached once every upstream answered, partial until then."""
        if self._cached is not None:
            return self._cached
        async with self._lock:
            if self._cached is not None:
                return self._cached
            names = list(self.proxy.clients)
            fetched = await asyncio.gather(*(self._fetch(n) for n in names))
            docs = {n: d for n, d in zip(names, fetched, strict=True) if d is not None}
            if not docs:
                return None
            merged = merge_documents(docs, version=self.version)
            if len(docs) == len(names):
                self._cached = merged
            return merged

    async def _fetch(self, name: str) -> dict[str, Any] | None:
        try:
            response = await self.proxy.clients[name].get("/openapi.json")
            response.raise_for_status()
            doc = response.json()
        except Exception as exc:
            log.warning("no OpenAPI schema from %s: %r", name, exc)
            return None
        return doc if isinstance(doc, dict) else None


DOCS_ASSETS = "/api/docs/assets"


def openapi_router(aggregator: OpenApiAggregator) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def schema() -> JSONResponse:
        doc = await aggregator.document()
        if doc is None:
            return error_response(503)
        return JSONResponse(doc)

    async def docs() -> HTMLResponse:
        # Swagger UI's files come from the gateway itself: a self-hosted platform may have
        # no internet, where FastAPI's default CDN links would leave an empty page
        return get_swagger_ui_html(
            openapi_url=OPENAPI_PATH,
            title=f"{TITLE} - docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    for path in (OPENAPI_PATH, OPENAPI_PATH + "/"):
        router.add_api_route(path, schema, methods=["GET"])
    for path in ("/api/docs", "/api/docs/"):
        router.add_api_route(path, docs, methods=["GET"])
    router.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path))
    return router
