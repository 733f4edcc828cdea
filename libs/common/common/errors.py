"""Error bodies in the one shape the browser client can show (CONTRACT.md, "Rules"):
`{"detail": "..."}` or `{"<field>": ["...", ...]}`, message strings only, never 422.

The one place where a refusal (`common.refusals`, raised by use cases and routes) becomes an
HTTP answer: every service installs the handlers with `install_error_handlers`. `ApiError` is
for what a refusal cannot say: headers (`WWW-Authenticate`, `Retry-After`) or a status of HTTP's
own (416), in middleware and delivery code.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.openapi import install_openapi
from common.refusals import RateLimited, Refusal, RefusalKind, invalid, validation_messages
from common.unavailable import RETRY_AFTER_SECONDS, is_unavailable

log = logging.getLogger(__name__)

HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

STATUS_MESSAGES = {
    400: "Bad request.",
    401: "Authentication credentials were not provided or are invalid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "The request conflicts with the current state of the resource.",
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
    """An HTTP answer in the contract's shape, raised by HTTP code itself (middleware,
    delivery); use cases and routes raise a `Refusal` instead."""

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


REFUSAL_STATUS: dict[RefusalKind, int] = {
    RefusalKind.INVALID: 400,
    RefusalKind.UNAUTHORIZED: 401,
    RefusalKind.FORBIDDEN: 403,
    RefusalKind.NOT_FOUND: 404,
    RefusalKind.CONFLICT: 409,
    RefusalKind.TOO_LARGE: 413,
    RefusalKind.UNSUPPORTED: 415,
    RefusalKind.RATE_LIMITED: 429,
}


def refusal_error(refusal: Refusal) -> ApiError:
    """The answer to a refusal: its kind's status; its fields, else its message (or the
    status's generic wording) under its message key."""
    status = REFUSAL_STATUS[refusal.kind]
    retry = refusal.retry_after_seconds if isinstance(refusal, RateLimited) else None
    headers = {"Retry-After": str(retry)} if retry else None
    if refusal.fields:
        return ApiError(status, fields=refusal.fields, headers=headers)
    message = refusal.message or STATUS_MESSAGES.get(status, "Error.")
    return ApiError(status, body={refusal.message_key: message}, headers=headers)


def _answer(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body, status_code=error.status_code, headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _answer(exc)

    @app.exception_handler(Refusal)
    async def _refusal(_request: Request, exc: Refusal) -> JSONResponse:
        return _answer(refusal_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _answer(refusal_error(invalid(validation_messages(exc.errors()))))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
        if detail in {"Not Found", "Method Not Allowed"}:
            detail = None  # use our own wording
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return error_response(exc.status_code, detail, headers=headers)

    app.add_middleware(CatchAllMiddleware)
    install_openapi(app)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at the request's path. Starlette's own
    `Allow` names only the first route that matched the path, and FastAPI makes one route a
    method."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


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
        except Exception as exc:
            if is_unavailable(exc) and not started:  # a backing service is down: try again
                log.warning("503 on %s %s: %r", scope.get("method"), scope.get("path"), exc)
                retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
                await error_response(503, headers=retry)(scope, receive, send)
                return
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await error_response(500)(scope, receive, send)
