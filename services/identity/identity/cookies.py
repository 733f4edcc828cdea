"""Setting and deleting the three cookies of the contract."""

from __future__ import annotations

from fastapi import Response

from common.config import Settings
from common.security.cookies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE


def _set(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=settings.cookie_secure,
        httponly=name != CSRF_COOKIE,  # the client reads csrftoken via document.cookie
        samesite="lax",
    )


def set_access_cookie(response: Response, settings: Settings, token: str) -> None:
    _set(response, settings, ACCESS_COOKIE, token, settings.access_token_minutes * 60)


def set_session_cookies(
    response: Response,
    settings: Settings,
    *,
    access: str,
    refresh: str,
    csrf: str,
    refresh_seconds: int | None = None,
) -> None:
    """At login and at every refresh (the refresh token rotates, the csrftoken is renewed
    with it); `refresh_seconds`: what is left of the session, by default all of it."""
    if refresh_seconds is None:
        refresh_seconds = settings.refresh_token_days * 86400
    refresh_age = max(1, refresh_seconds)
    set_access_cookie(response, settings, access)
    _set(response, settings, REFRESH_COOKIE, refresh, refresh_age)
    # csrftoken lives as long as the refresh token, else logout could never be sent
    _set(response, settings, CSRF_COOKIE, csrf, refresh_age)


def delete_session_cookies(response: Response, settings: Settings) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE):
        response.delete_cookie(
            name,
            path="/",
            secure=settings.cookie_secure,
            httponly=name != CSRF_COOKIE,
            samesite="lax",
        )
