"""CSRF checks: the `X-CSRFToken` header must equal the `csrftoken` cookie (double submit),
and, on cookie-authenticated writes, belong to the session of the access token.

A cross-site page can make the browser send the cookies but cannot read `csrftoken` to put it
into a header, nor send a custom header without a CORS preflight we would refuse. Someone who
can write cookies for our host (a sibling site, a network on plain http) could plant a
`csrftoken` and send a matching header, though: so the token is bound to the session
(`common.security.csrf`), and the access token carries its digest. Logout has no live access
token to go by: identity checks its binding against the refresh token's session.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from common.errors import ApiError
from common.security.cookies import CSRF_COOKIE, CSRF_HEADER
from common.security.csrf import matches

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REFUSED = "CSRF token missing or incorrect."


def check_csrf(request: Request) -> None:
    """The double submit: header and cookie present and equal."""
    if request.method not in UNSAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise ApiError(403, _REFUSED)


def check_bound_csrf(request: Request, session_digest: str | None) -> None:
    """The double submit, and the header is the token of the access token's session (a token
    without the binding, from before it existed, passes no write)."""
    if request.method not in UNSAFE_METHODS:
        return
    check_csrf(request)
    if not matches(request.headers.get(CSRF_HEADER, ""), session_digest):
        raise ApiError(403, _REFUSED)
