"""The OpenAPI side of `common.errors`: the contract's error body and the refusals a route can
answer with, declared once as `components/responses` every service's schema shares.

A route lists the refusals it can give with `responses=error_responses(400, 404)`;
`install_openapi` adds the shared components to the service's schema and replaces FastAPI's
default 422 (never sent: validation errors are 400) by the 400 the service really answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA = "Error"
_REF_SCHEMAS = "#/components/schemas/"
_REF_RESPONSES = "#/components/responses/"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

ERROR_BODY: dict[str, Any] = {
    "title": ERROR_SCHEMA,
    "description": (
        'The contract\'s error body: `{"detail": "..."}` (a few answers say `message`) or '
        'messages per field, `{"<field>": ["...", ...]}`; message strings only.'
    ),
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
        ]
    },
}

_INTEGER_HEADER = {"schema": {"type": "integer", "minimum": 0}}
_RESPONSES: dict[int, tuple[str, str, dict[str, Any]]] = {
    400: ("BadRequest", "Malformed or invalid input: messages per field or in `detail`", {}),
    401: ("Unauthorized", "No credentials, or invalid, expired or revoked ones", {}),
    403: ("Forbidden", "Not allowed: an account not activated, not an admin, or no CSRF", {}),
    404: ("NotFound", "No such resource", {}),
    409: ("Conflict", "The resource is not in a state that allows this request", {}),
    412: (
        "PreconditionFailed",
        "A protocol version header is missing or not spoken here (tus: `Tus-Resumable`)",
        {"Tus-Version": {"description": "The versions spoken", "schema": {"type": "string"}}},
    ),
    413: ("PayloadTooLarge", "The request body is too large", {}),
    415: ("UnsupportedMediaType", "The body's media type (or a file's) is not accepted", {}),
    416: (
        "RangeNotSatisfiable",
        "The requested byte range lies outside the object",
        {"Content-Range": {"description": "`bytes */<size>`", "schema": {"type": "string"}}},
    ),
    429: (
        "TooManyRequests",
        "Too many attempts: try again after `Retry-After` seconds",
        {"Retry-After": {"description": "Seconds to wait", **_INTEGER_HEADER}},
    ),
    460: ("ChecksumMismatch", "The body does not match its declared checksum (tus)", {}),
}


def response_ref(status: int) -> dict[str, str]:
    return {"$ref": _REF_RESPONSES + _RESPONSES[status][0]}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: each status as a reference to the shared error response."""
    return {status: response_ref(status) for status in statuses}


def components() -> dict[str, Any]:
    """The `components` every service's schema carries: the error body and its answers."""
    body = {"application/json": {"schema": {"$ref": _REF_SCHEMAS + ERROR_SCHEMA}}}
    responses = {}
    for name, description, headers in _RESPONSES.values():
        response: dict[str, Any] = {"description": description, "content": body}
        if headers:
            response["headers"] = headers
        responses[name] = response
    return {"schemas": {ERROR_SCHEMA: ERROR_BODY}, "responses": responses}


def tell_the_truth(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` (a FastAPI schema) with the shared components, a 400 instead of FastAPI's 422
    where input can be invalid, and references to shared responses without FastAPI's added
    description."""
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None and _validates_input(operation):
                responses.setdefault("400", response_ref(400))
            for status, response in responses.items():
                if "$ref" in response:
                    responses[status] = {"$ref": response["$ref"]}
    shared = components()
    own = doc.setdefault("components", {})
    schemas = own.setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas.update(shared["schemas"])
    own.setdefault("responses", {}).update(shared["responses"])
    return doc


def _validates_input(operation: dict[str, Any]) -> bool:
    """Whether FastAPI can refuse the operation's input: FastAPI documents its 422 for any
    parameter, even a plain text path segment that nothing can make invalid."""
    if "requestBody" in operation:
        return True
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") != "path" and parameter.get("required"):
            return True
        if schema.get("type") != "string" or set(schema) - {"type", "title", "description"}:
            return True
    return False


def install_openapi(app: FastAPI) -> None:
    """`app.openapi()` tells the truth about errors (see `tell_the_truth`)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = tell_the_truth(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
