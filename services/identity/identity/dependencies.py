"""FastAPI dependencies of the identity routes."""

from __future__ import annotations

from fastapi import Request

from common.config import Settings
from identity.service import AccountService


def get_accounts(request: Request) -> AccountService:
    return request.app.state.accounts


def get_settings(request: Request) -> Settings:
    return request.app.state.settings
