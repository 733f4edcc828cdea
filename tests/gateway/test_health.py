"""Liveness and readiness of the gateway."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from common.config import Settings
from gateway.app import create_app
from tests.gateway.conftest import FailingTransport


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_kv_and_upstreams(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"kv": "ok", "identity": "ok", "catalog": "ok"}


async def test_readyz_fails_with_an_upstream_down(gateway_factory: Any, identity_stub: Any) -> None:
    down = FailingTransport(httpx.ConnectError("down"))
    identity = httpx.ASGITransport(app=identity_stub)
    async with gateway_factory(upstreams={"identity": identity, "catalog": down}) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["catalog"] == "failing"


def test_gateway_refuses_to_start_without_a_public_key(ports: Any) -> None:
    with pytest.raises(ValueError, match="JWT_PUBLIC_KEY"):
        create_app(Settings(jwt_public_key=""), ports)
