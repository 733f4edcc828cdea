"""FastAPI dependencies of the identity routes; `async def`, as every one must be (see
tests/allinone/test_dependencies.py: a plain `def` costs a worker-thread hop per request)."""

from __future__ import annotations

from fastapi import Request

from common.config import Settings
from identity.service import AccountService


async def get_accounts(request: Request) -> AccountService:
    return request.app.state.accounts


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_client_address(request: Request) -> str:
    """The caller's address as the gateway saw it: the gateway replaces any `X-Forwarded-For`
    a client sends with the one address it believes (only the gateway reaches identity, as
    for the identity headers of `common.security.principal`); else the socket peer."""
    forwarded = request.headers.get("x-forwarded-for", "").rpartition(",")[2].strip()
    if forwarded:
        return forwarded[:64]
    return request.client.host if request.client else "unknown"
