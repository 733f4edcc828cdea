"""`/api/openapi.json`: the public API's schema, merged from the upstreams' own schemas and
completed with what the gateway itself answers on each route (`gateway.routes`): 401/403 and
the security schemes where it authenticates, 403 where it checks CSRF, 429 where it limits the
rate, 413 where it caps the body, 400 without a refresh cookie, 404 for a path parameter that
cannot be routed (`.`, `..`); `/api/docs`: Swagger UI over it."""

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
from starlette.routing import compile_path

from common.errors import error_response
from common.openapi import response_ref
from gateway.proxy import Proxy
from gateway.routes import ROUTES, Auth, Csrf, RouteSpec, is_routed

log = logging.getLogger(__name__)

TITLE = "Videoflix API"
OPENAPI_PATH = "/api/openapi.json"
_REF_PREFIX = "#/components/schemas/"
_BODY_METHODS = {"post", "put", "patch"}
_UNSAFE_METHODS = {"post", "put", "patch", "delete"}
SECURITY_SCHEMES: dict[str, Any] = {
    "accessCookie": {"type": "apiKey", "in": "cookie", "name": "access_token"},
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
}
_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"accessCookie": []}]
_SPECS = [(compile_path(p)[0], spec) for spec in ROUTES for p in spec.patterns()]


def merge_documents(docs: Mapping[str, dict[str, Any]], *, version: str) -> dict[str, Any]:
    """Union of the routed `paths` and of `components.schemas`; a schema name two upstreams
    define differently is prefixed with the second one's service name. Shared responses
    (`common.openapi`) are the same everywhere. Each operation gets the gateway's answers."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    responses: dict[str, Any] = {}
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
        responses.update(doc.get("components", {}).get("responses", {}))
        for path, item in doc.get("paths", {}).items():
            if is_routed(path):
                paths[path] = _with_gateway_answers(path, item)
    return {
        "openapi": openapi,
        "info": {"title": TITLE, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": dict(sorted(responses.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def route_spec(path: str) -> RouteSpec | None:
    """The route (`gateway.routes`) that serves an OpenAPI path template."""
    return next((spec for pattern, spec in _SPECS if pattern.match(path)), None)


def _with_gateway_answers(path: str, item: dict[str, Any]) -> dict[str, Any]:
    spec = route_spec(path)
    if spec is None:
        return item
    for method, operation in item.items():
        if not isinstance(operation, dict) or "responses" not in operation:
            continue
        statuses = gateway_statuses(spec, method, templated="{" in path)
        if spec.auth is not Auth.NONE:
            operation["security"] = _SECURITY
        answers = operation["responses"]
        for status in sorted(statuses):
            answers.setdefault(str(status), response_ref(status))
        operation["responses"] = dict(sorted(answers.items()))
    return item


def gateway_statuses(spec: RouteSpec, method: str, *, templated: bool) -> set[int]:
    """What the gateway itself may answer for `method` on a route, before any upstream."""
    method = method.lower()
    statuses: set[int] = set()
    if templated:
        statuses.add(404)
    if spec.rate_limit is not None:
        statuses.add(429)
    if spec.needs_refresh_cookie:
        statuses.add(400)
    if spec.csrf is Csrf.ALWAYS or (spec.csrf is Csrf.COOKIE_AUTH and method in _UNSAFE_METHODS):
        statuses.add(403)
    if spec.auth is not Auth.NONE:
        statuses.add(401)
    if spec.auth is Auth.ADMIN:
        statuses.add(403)
    if spec.max_body_bytes is not None and method in _BODY_METHODS:
        statuses.add(413)
    return statuses


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
