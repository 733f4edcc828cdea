"""The public route table: which paths go to which upstream, under which policy.

Every path answers with and without its trailing slash (never a redirect); anything under
`/api/` that is not listed here is a 404, a listed path with another method a 405.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from starlette.routing import compile_path


class Upstream(StrEnum):
    IDENTITY = "identity"
    CATALOG = "catalog"


class Auth(StrEnum):
    NONE = "none"  # public: the access token is never looked at
    USER = "user"
    ADMIN = "admin"


class Csrf(StrEnum):
    NONE = "none"  # a stale X-CSRFToken is ignored
    COOKIE_AUTH = "cookie_auth"  # unsafe methods whose access token came from the cookie
    ALWAYS = "always"  # unsafe methods, whatever authenticates them (logout)


class Bucket(StrEnum):
    LOGIN = "login"
    REGISTER = "register"
    PASSWORD_RESET = "password_reset"


JSON_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class RouteSpec:
    name: str
    path: str  # Starlette path pattern, without the trailing slash
    upstream: Upstream
    methods: tuple[str, ...]
    auth: Auth = Auth.NONE
    csrf: Csrf = Csrf.NONE
    rate_limit: Bucket | None = None
    prefix: bool = False  # the path and everything below it
    needs_refresh_cookie: bool = False  # 400 before anything else when it is missing
    # JSON APIs read whole bodies: capped here (413) so no upstream buffers gigabytes;
    # None streams the body on unread (uploads: the catalog enforces its own limit)
    max_body_bytes: int | None = JSON_BODY_LIMIT
    # on every answer of the route, the gateway's own refusals (401, 403, 405, 429) included
    headers: tuple[tuple[str, str], ...] = ()

    def patterns(self) -> tuple[str, str]:
        if self.prefix:
            return self.path, self.path + "/{rest:path}"
        return self.path, self.path + "/"


_READ = ("GET", "HEAD")
_TUS = (("Tus-Resumable", "1.0.0"),)  # tus 1.0 wants it on every answer, errors included

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "register", "/api/register", Upstream.IDENTITY, ("POST",), rate_limit=Bucket.REGISTER
    ),
    RouteSpec("activate", "/api/activate/{uidb64}/{token}", Upstream.IDENTITY, _READ),
    RouteSpec("login", "/api/login", Upstream.IDENTITY, ("POST",), rate_limit=Bucket.LOGIN),
    RouteSpec(
        "logout",
        "/api/logout",
        Upstream.IDENTITY,
        ("POST",),
        csrf=Csrf.ALWAYS,
        needs_refresh_cookie=True,
    ),
    RouteSpec("token_refresh", "/api/token/refresh", Upstream.IDENTITY, ("POST",)),
    RouteSpec(
        "password_reset",
        "/api/password_reset",
        Upstream.IDENTITY,
        ("POST",),
        rate_limit=Bucket.PASSWORD_RESET,
    ),
    RouteSpec(
        "password_confirm", "/api/password_confirm/{uidb64}/{token}", Upstream.IDENTITY, ("POST",)
    ),
    RouteSpec(
        "video",
        "/api/video",
        Upstream.CATALOG,
        _READ,
        auth=Auth.USER,
        csrf=Csrf.COOKIE_AUTH,
        prefix=True,
    ),
    # public: thumbnails load in an <img>; the random version in their URL is the secret
    RouteSpec("thumbnail", "/api/thumbnails", Upstream.CATALOG, _READ, prefix=True),
    # each admin resource with its own methods, so a 405's Allow names exactly those
    RouteSpec(
        "admin_videos",
        "/api/admin/videos",
        Upstream.CATALOG,
        ("GET", "HEAD", "POST"),
        auth=Auth.ADMIN,
        csrf=Csrf.COOKIE_AUTH,
        max_body_bytes=None,
    ),
    RouteSpec(
        "admin_video",
        "/api/admin/videos/{video_id}",
        Upstream.CATALOG,
        ("GET", "HEAD", "PATCH", "DELETE"),
        auth=Auth.ADMIN,
        csrf=Csrf.COOKIE_AUTH,
        max_body_bytes=None,
    ),
    RouteSpec(
        "admin_video_retry",
        "/api/admin/videos/{video_id}/retry",
        Upstream.CATALOG,
        ("POST",),
        auth=Auth.ADMIN,
        csrf=Csrf.COOKIE_AUTH,
    ),
    # server-sent events: every video's status and progress as they change
    RouteSpec("admin_events", "/api/admin/events", Upstream.CATALOG, _READ, auth=Auth.ADMIN),
    # tus 1.0 resumable uploads: discovery (OPTIONS without a CORS preflight's headers) and
    # creation, then HEAD/PATCH/DELETE on the upload's URL
    RouteSpec(
        "admin_uploads",
        "/api/admin/uploads",
        Upstream.CATALOG,
        ("OPTIONS", "POST"),
        auth=Auth.ADMIN,
        csrf=Csrf.COOKIE_AUTH,
        max_body_bytes=None,
        headers=_TUS,
    ),
    RouteSpec(
        "admin_upload",
        "/api/admin/uploads/{upload_id}",
        Upstream.CATALOG,
        ("HEAD", "PATCH", "DELETE"),
        auth=Auth.ADMIN,
        csrf=Csrf.COOKIE_AUTH,
        max_body_bytes=None,
        headers=_TUS,
    ),
    RouteSpec("admin_users", "/api/admin/users", Upstream.IDENTITY, _READ, auth=Auth.ADMIN),
    RouteSpec(
        "admin_user",
        "/api/admin/users/{user_id}",
        Upstream.IDENTITY,
        ("GET", "HEAD", "PATCH"),
        auth=Auth.ADMIN,
        csrf=Csrf.COOKIE_AUTH,
    ),
    RouteSpec(
        "admin_user_activation",
        "/api/admin/users/{user_id}/resend-activation",
        Upstream.IDENTITY,
        ("POST",),
        auth=Auth.ADMIN,
        csrf=Csrf.COOKIE_AUTH,
    ),
)


def _compiled() -> list[re.Pattern[str]]:
    return [compile_path(p)[0] for spec in ROUTES for p in spec.patterns()]


_PATTERNS = _compiled()


def is_routed(path: str) -> bool:
    """Whether the gateway forwards `path` (also an OpenAPI path template) to an upstream."""
    return any(p.match(path) for p in _PATTERNS)


def has_dot_segments(path: str) -> bool:
    """`.`/`..` segments would be resolved by the HTTP client on the way out, so the upstream
    could see another path than the one whose policy was applied here."""
    return any(segment in {".", ".."} for segment in path.split("/"))
