"""Double-submit CSRF check: the `X-CSRFToken` header must equal the `csrftoken` cookie.

A cross-site page can make the browser send the cookies but cannot read `csrftoken` to put it
into a header, nor send a custom header without a CORS preflight we would refuse.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from common.errors import ApiError
from common.security.cookies import CSRF_COOKIE, CSRF_HEADER

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def check_csrf(request: Request) -> None:
    if request.method not in UNSAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise ApiError(403, "CSRF token missing or incorrect.")
