"""Request and response bodies of the authentication endpoints (CONTRACT.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, StringConstraints


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
