"""The gateway is ready when its upstreams can serve: it asks their `/readyz`, not `/healthz`
(a running identity whose database is down cannot serve a login)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse


def running_but_not_ready() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        return JSONResponse({"status": "unavailable"}, status_code=503)

    return app


async def test_an_upstream_alive_but_not_ready_makes_the_gateway_not_ready(
    gateway_factory: Any, identity_stub: FastAPI
) -> None:
    upstreams = {
        "identity": httpx.ASGITransport(app=identity_stub),
        "catalog": httpx.ASGITransport(app=running_but_not_ready()),
    }
    async with gateway_factory(upstreams=upstreams) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"kv": "ok", "identity": "ok", "catalog": "failing"}
