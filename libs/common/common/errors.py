"""Error bodies in the one shape the browser client can show (CONTRACT.md, "Rules"):
`{"detail": "..."}` or `{"<field>": ["...", ...]}`, message strings only, never 422."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

STATUS_MESSAGES = {
    400: "Bad request.",
    401: "Authentication credentials were not provided or are invalid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request is too large.",
    415: "Unsupported media type.",
    416: "The requested range is not satisfiable.",
    429: "Too many requests. Please try again later.",
    500: "Internal server error.",
    502: "A backend service did not answer correctly.",
    503: "The service is temporarily unavailable.",
    504: "A backend service did not answer in time.",
}


class ApiError(Exception):
    """Raised by services for a contract-shaped error answer."""

    def __init__(
        self,
        status_code: int,
        detail: str | None = None,
        *,
        fields: dict[str, list[str]] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or "")
        self.status_code = status_code
        if body is not None:
            self.body = body
        elif fields:
            self.body = dict(fields)
        else:
            self.body = {"detail": detail or STATUS_MESSAGES.get(status_code, "Error.")}
        self.headers = headers


def error_response(status_code: int, detail: str | None = None, **kw: Any) -> JSONResponse:
    return JSONResponse(
        {"detail": detail or STATUS_MESSAGES.get(status_code, "Error.")},
        status_code=status_code,
        **kw,
    )


_MESSAGE_REWRITES = {
    "missing": "This field is required.",
    "json_invalid": "Malformed JSON body.",
    "model_attributes_type": "Expected a JSON object.",
    "dict_type": "Expected a JSON object.",
    "string_type": "Expected a text value.",
}


def validation_fields(exc: RequestValidationError) -> dict[str, list[str]]:
    """Turn pydantic's errors into `{field: [messages]}` without echoing any input."""
    fields: dict[str, list[str]] = {}
    for err in exc.errors():
        kind = str(err.get("type", ""))
        loc = [
            p
            for p in err.get("loc", ())
            if isinstance(p, str) and p not in ("body", "query", "path", "header", "cookie")
        ]
        field = loc[-1] if loc and kind != "json_invalid" else "detail"
        message = _MESSAGE_REWRITES.get(kind) or str(err.get("msg", "Invalid value."))
        message = message.removeprefix("Value error, ")
        if field == "detail":
            fields.setdefault("detail", []).append(message)
        else:
            fields.setdefault(field, []).append(message)
    return fields


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = validation_fields(exc)
        if list(fields) == ["detail"]:
            return JSONResponse({"detail": " ".join(fields["detail"])}, status_code=400)
        return JSONResponse(fields, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
        if detail in {"Not Found", "Method Not Allowed"}:
            detail = None  # use our own wording
        return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    app.add_middleware(CatchAllMiddleware)


class CatchAllMiddleware:
    """Turns an unhandled exception into a JSON 500 *inside* the middleware stack, so outer
    middleware (CORS) still decorates it; Starlette's own 500 handler sits outside them all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def _send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, _send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await error_response(500)(scope, receive, send)
