"""Who is calling, as the gateway tells upstream services after verifying the access token.

The gateway strips any client-sent copy of these headers; upstreams trust them because only
the gateway can reach them.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from fastapi import Request
from pydantic import BaseModel

from common.errors import ApiError

HEADER_USER_ID = "x-videoflix-user-id"
HEADER_USER_EMAIL = "x-videoflix-user-email"
HEADER_USER_ADMIN = "x-videoflix-user-admin"
HEADER_SESSION_ID = "x-videoflix-session-id"
IDENTITY_HEADERS = (HEADER_USER_ID, HEADER_USER_EMAIL, HEADER_USER_ADMIN, HEADER_SESSION_ID)


class Principal(BaseModel):
    user_id: int
    email: str
    admin: bool
    session_id: str

    def headers(self) -> dict[str, str]:
        return {
            HEADER_USER_ID: str(self.user_id),
            HEADER_USER_EMAIL: quote(self.email, safe="@+"),  # headers carry ASCII only
            HEADER_USER_ADMIN: "1" if self.admin else "0",
            HEADER_SESSION_ID: self.session_id,
        }


def principal_from_headers(request: Request) -> Principal | None:
    raw_id = request.headers.get(HEADER_USER_ID)
    if not raw_id or not raw_id.isdigit():
        return None
    return Principal(
        user_id=int(raw_id),
        email=unquote(request.headers.get(HEADER_USER_EMAIL, "")),
        admin=request.headers.get(HEADER_USER_ADMIN) == "1",
        session_id=request.headers.get(HEADER_SESSION_ID, ""),
    )


async def require_user(request: Request) -> Principal:
    """FastAPI dependency for upstream routes that need a signed-in user."""
    principal = principal_from_headers(request)
    if principal is None:
        raise ApiError(401)
    return principal


async def require_admin(request: Request) -> Principal:
    principal = await require_user(request)
    if not principal.admin:
        raise ApiError(403)
    return principal
