"""Liveness and readiness of the gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from common.config import Settings
from common.security.keys import (
    generate_keypair,
    load_or_create_keypair,
    signing_keypair,
    verification_key,
)
from gateway.app import create_app
from tests.support.gateway import FailingTransport


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


def test_gateway_refuses_to_start_without_a_public_key(ports: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JWT_PUBLIC_KEY"):
        create_app(Settings(jwt_public_key="", jwt_private_key="", data_dir=tmp_path), ports)


def test_gateway_reads_the_public_key_identity_keeps_in_data_dir(
    ports: Any, tmp_path: Path
) -> None:
    """A single-host deployment shares DATA_DIR/keys: identity creates the pair on first
    start, the gateway verifies with its public half."""
    pair = load_or_create_keypair(tmp_path / "keys")
    settings = Settings(jwt_public_key="", jwt_private_key="", data_dir=tmp_path)
    assert verification_key(settings) == pair.public_pem
    create_app(settings, ports)


def test_a_configured_private_key_replaces_an_older_shared_public_key(tmp_path: Path) -> None:
    old = load_or_create_keypair(tmp_path / "keys")
    new = generate_keypair()
    settings = Settings(jwt_public_key="", jwt_private_key=new.private_pem, data_dir=tmp_path)
    assert signing_keypair(settings).public_pem == new.public_pem
    gateway_side = Settings(jwt_public_key="", jwt_private_key="", data_dir=tmp_path)
    assert verification_key(gateway_side) == new.public_pem != old.public_pem
