"""FastAPI dependencies of the identity routes."""

from __future__ import annotations

from fastapi import Request

from common.config import Settings
from identity.service import AccountService


def get_accounts(request: Request) -> AccountService:
    return request.app.state.accounts


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_client_address(request: Request) -> str:
    """The caller's address as the gateway saw it: the gateway replaces any `X-Forwarded-For`
    a client sends with the one address it believes (only the gateway reaches identity, as
    for the identity headers of `common.security.principal`); else the socket peer."""
    forwarded = request.headers.get("x-forwarded-for", "").rpartition(",")[2].strip()
    if forwarded:
        return forwarded[:64]
    return request.client.host if request.client else "unknown"
