"""Reading the gateway's answers: JSON bodies (a non-JSON answer is an error to tell, not a
traceback) and Set-Cookie headers; and the cookie jar that keeps nothing."""

from __future__ import annotations

import http.cookiejar
from http.cookies import SimpleCookie
from typing import Any

import httpx

from admincli.errors import CliError


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """The cookies a response sets (read from the headers: a `Secure` cookie over plain http
    is still the session's)."""
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except Exception:  # noqa: S112 - a cookie we cannot parse is not one of ours
            continue
        for name, morsel in jar.items():
            found[name] = morsel.value
    return found


def decoded(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CliError(
            f"{response.request.url} answered {response.status_code} without JSON: "
            "is --url a Videoflix gateway?"
        ) from None


def one(response: httpx.Response) -> dict[str, Any]:
    body = decoded(response)
    if not isinstance(body, dict):
        raise CliError(f"{response.request.url} answered JSON that is no object.")
    return body


def listed(response: httpx.Response) -> list[dict[str, Any]]:
    body = decoded(response)
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise CliError(f"{response.request.url} answered JSON that is no list of objects.")
    return body


def no_cookie_jar() -> http.cookiejar.CookieJar:
    """httpx keeps cookies by default; an `access_token` cookie would make every write need
    the CSRF header, so none is ever kept."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
