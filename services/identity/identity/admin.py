"""The admin's user endpoints (`/api/admin/users/...`): parse, call `identity.users`, answer.

Only the gateway reaches identity, and it lets only admins through to these paths; the
trusted identity headers are checked here again (`require_admin`), which also says who acts.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from common.http import SlashOptionalRouter, head_too
from common.openapi import error_responses
from common.security.principal import Principal, require_admin
from identity import schemas
from identity.models import User
from identity.refusals import UserNotFound
from identity.users import UserAdmin

MAX_LIMIT = 1000
MAX_ID = 2**63 - 1


async def get_user_admin(request: Request) -> UserAdmin:
    return request.app.state.user_admin


async def user_id_from_path(user_id: str) -> int:
    """The `{user_id}` segment as an id; anything else is an unknown user (404), not a
    validation error."""
    if not (user_id.isascii() and user_id.isdigit()) or int(user_id) > MAX_ID:
        raise UserNotFound
    return int(user_id)


Users = Annotated[UserAdmin, Depends(get_user_admin)]
Admin = Annotated[Principal, Depends(require_admin)]
UserId = Annotated[int, Depends(user_id_from_path)]

admin_router = SlashOptionalRouter(tags=["admin"], dependencies=[Depends(require_admin)])
_NOT_FOUND = error_responses(404)


def _shown(user: User) -> schemas.AdminUser:
    return schemas.AdminUser(
        id=user.id,
        email=user.email,
        is_admin=user.is_admin,
        activated=user.activated,
        is_active=user.is_active,
        created_at=user.created_at,
        last_login=user.last_login_at,
    )


@admin_router.get(
    "/api/admin/users/", response_model=list[schemas.AdminUser], responses=error_responses(400)
)
@head_too(admin_router, "/api/admin/users/")
async def list_users(
    users: Users,
    search: Annotated[str, Query(max_length=254, description="Part of an email, in any case")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many")] = 100,
) -> list[schemas.AdminUser]:
    """Accounts sorted by email; with `search`, those whose email contains it."""
    return [_shown(u) for u in await users.search(search, limit)]


@admin_router.get(
    "/api/admin/users/{user_id}/", response_model=schemas.AdminUser, responses=_NOT_FOUND
)
@head_too(admin_router, "/api/admin/users/{user_id}/")
async def get_user(user_id: UserId, users: Users) -> schemas.AdminUser:
    return _shown(await users.get(user_id))


@admin_router.patch(
    "/api/admin/users/{user_id}/",
    response_model=schemas.AdminUser,
    responses=error_responses(400, 404),
)
async def set_user_active(
    user_id: UserId, body: schemas.AdminUserPatchIn, users: Users, admin: Admin
) -> schemas.AdminUser:
    """`{"is_active": false}` deactivates the account: its sessions end everywhere and its
    logins are refused (403) until `{"is_active": true}`. Not for your own account (400)."""
    user = await users.set_active(user_id, body.is_active, by_admin=admin.user_id)
    return _shown(user)


@admin_router.post(
    "/api/admin/users/{user_id}/resend-activation/",
    status_code=202,
    response_model=schemas.ResendActivationOut,
    responses=error_responses(404, 409, 429),
)
async def resend_activation(user_id: UserId, users: Users) -> schemas.ResendActivationOut:
    """Mail a new activation link to an account not activated yet (409 once it is; 429 with
    `Retry-After` past the per-recipient mail limit)."""
    await users.resend_activation(user_id)
    return schemas.ResendActivationOut()
