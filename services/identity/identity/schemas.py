"""Request and response bodies of the authentication endpoints (CONTRACT.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    StrictBool,
    StringConstraints,
)

from common.timefmt import UtcDateTime


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


# emails are stripped of surrounding whitespace; passwords are taken verbatim
Email = Annotated[EmailStr, BeforeValidator(_strip), StringConstraints(max_length=254)]
Password = Annotated[str, StringConstraints(max_length=1024)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RegisterIn(_In):
    email: Email
    password: Password
    confirmed_password: Password


class PublicUser(BaseModel):
    id: int
    email: str


class RegisterOut(BaseModel):
    user: PublicUser


class MessageOut(BaseModel):
    message: str


class LoginIn(_In):
    email: Email
    password: Password


class LoginUser(BaseModel):
    id: int
    username: str


class LoginOut(BaseModel):
    detail: str = "Login successful"
    user: LoginUser


class DetailOut(BaseModel):
    detail: str


class RefreshOut(BaseModel):
    detail: str = "Token refreshed"
    access: str


class PasswordResetIn(_In):
    email: Email


class PasswordConfirmIn(_In):
    new_password: Password
    confirm_password: Password


# ---------------------------------------------------------------------- the admin's


class AdminUser(BaseModel):
    id: int
    email: str
    is_admin: bool
    activated: bool
    """The owner confirmed the address."""
    is_active: bool
    """False while an admin has deactivated the account."""
    created_at: UtcDateTime
    last_login: UtcDateTime | None


class AdminUserPatchIn(_In):
    is_active: StrictBool


class ResendActivationOut(BaseModel):
    detail: str = "A new activation email has been sent."
