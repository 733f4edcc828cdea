"""The per-request pipeline of a proxied route, in the order the contract fixes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from common.errors import ApiError
from common.security.cookies import REFRESH_COOKIE
from common.security.principal import Principal
from gateway.auth import Authenticator
from gateway.csrf import check_bound_csrf, check_csrf
from gateway.proxy import Proxy, has_body
from gateway.ratelimit import RateLimiter, client_address
from gateway.routes import Auth, Csrf, RouteSpec, has_dot_segments

Endpoint = Callable[[Request], Awaitable[Response]]


class Gateway:
    def __init__(self, *, authenticator: Authenticator, limiter: RateLimiter, proxy: Proxy) -> None:
        self.authenticator = authenticator
        self.limiter = limiter
        self.proxy = proxy

    def endpoint(self, spec: RouteSpec) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            return await self.handle(request, spec)

        return endpoint

    async def handle(self, request: Request, spec: RouteSpec) -> Response:
        if has_dot_segments(request.scope["path"]):
            raise ApiError(404)
        if spec.rate_limit is not None:
            await self.limiter.hit(spec.rate_limit, client_address(request))
        if spec.needs_refresh_cookie and not request.cookies.get(REFRESH_COOKIE):
            # logout: "no refresh cookie" is answered before the CSRF check
            raise ApiError(400, "No refresh token was provided.")
        if spec.csrf is Csrf.ALWAYS:
            check_csrf(request)
        principal: Principal | None = None
        if spec.auth is not Auth.NONE:
            caller = await self.authenticator.authenticate(request)
            if spec.auth is Auth.ADMIN and not caller.principal.admin:
                raise ApiError(403)
            if spec.csrf is Csrf.COOKIE_AUTH and caller.from_cookie:
                check_bound_csrf(request, caller.csrf_digest)
            principal = caller.principal
        body = None
        if spec.max_body_bytes is not None and has_body(request):
            body = await read_body(request, spec.max_body_bytes)
        return await self.proxy.forward(request, spec.upstream, principal, body=body)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is known to be over `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413)
    return bytes(body)
