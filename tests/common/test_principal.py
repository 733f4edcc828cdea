"""The trusted identity headers survive any email, as the gateway sends them upstream."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Depends, FastAPI

from common.errors import install_error_handlers
from common.security.principal import Principal, require_admin, require_user


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/me")
    async def me(principal: Principal = Depends(require_user)) -> dict[str, object]:
        return principal.model_dump()

    @app.get("/admin")
    async def admin(principal: Principal = Depends(require_admin)) -> dict[str, object]:
        return principal.model_dump()

    return app


@pytest.mark.parametrize("email", ["plain@example.com", "jürgen@bücher.de", "a+b%c@x.io"])
async def test_principal_round_trips_through_headers(email: str) -> None:
    principal = Principal(user_id=7, email=email, admin=False, session_id="s1")
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as client:
        response = await client.get("/me", headers=principal.headers())
        assert response.status_code == 200
        assert response.json() == principal.model_dump()
        assert (await client.get("/admin", headers=principal.headers())).status_code == 403
        assert (await client.get("/me")).status_code == 401
