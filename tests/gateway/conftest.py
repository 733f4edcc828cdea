"""Fixtures of the gateway tests: a gateway (lifespan running) wired to stub upstreams, its
settings and token minting. The stubs and helpers themselves are in tests/support/gateway.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from common.config import Settings
from common.kv.memory import InMemoryKeyValueStore
from common.ports import Ports
from common.security.keys import KeyPair, generate_keypair
from gateway.app import create_app
from tests.support.gateway import ORIGIN, GatewayClient, Tokens, make_stub


@pytest.fixture(scope="session")
def keypair() -> KeyPair:
    return generate_keypair()


@pytest.fixture
def tokens(keypair: KeyPair) -> Tokens:
    return Tokens(keypair)


@pytest.fixture
def kv() -> InMemoryKeyValueStore:
    return InMemoryKeyValueStore()


@pytest.fixture
def ports(kv: InMemoryKeyValueStore) -> Ports:
    return Ports(bus=None, kv=kv, store=None)  # type: ignore[arg-type]  # gateway uses only kv


@pytest.fixture
def settings(keypair: KeyPair) -> Settings:
    return Settings(
        jwt_public_key=keypair.public_pem,
        cors_origins=[ORIGIN, "http://localhost:5500"],
        rate_limit_login=3,
        rate_limit_register=3,
        rate_limit_password_reset=3,
        rate_limit_window_seconds=60,
        upstream_timeout_seconds=5,
        identity_url="http://identity.test",
        catalog_url="http://catalog.test",
    )


@pytest.fixture
def identity_stub() -> FastAPI:
    return make_stub("identity")


@pytest.fixture
def catalog_stub() -> FastAPI:
    return make_stub("catalog")


@pytest.fixture
def gateway_factory(
    settings: Settings, ports: Ports, identity_stub: FastAPI, catalog_stub: FastAPI
) -> Callable[..., contextlib.AbstractAsyncContextManager[GatewayClient]]:
    """Builds a gateway (lifespan running) and a client for it; keyword arguments override
    the settings, the upstream transports or the token verifier. `in_process`: the stubs are
    called directly, as the all-in-one calls identity and catalog, instead of over HTTP."""

    @contextlib.asynccontextmanager
    async def factory(
        *,
        upstreams: dict[str, httpx.AsyncBaseTransport] | None = None,
        in_process: bool = False,
        identity_app: Any = None,
        token_verifier: Any = None,
        client_addr: tuple[str, int] = ("127.0.0.1", 50000),
        **overrides: Any,
    ) -> AsyncIterator[GatewayClient]:
        transports: dict[str, httpx.AsyncBaseTransport] = {
            "identity": httpx.ASGITransport(app=identity_stub),
            "catalog": httpx.ASGITransport(app=catalog_stub),
        }
        if upstreams is not None:
            transports = upstreams
        identity = identity_app or identity_stub
        apps = {"identity": identity, "catalog": catalog_stub} if in_process else None
        app = create_app(
            settings.model_copy(update=overrides),
            ports,
            upstreams=None if in_process else transports,
            upstream_apps=apps,
            token_verifier=token_verifier,
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=client_addr)
            async with GatewayClient(
                transport=transport, base_url="http://127.0.0.1:8000"
            ) as client:
                client.app = app
                yield client

    return factory


@pytest.fixture(params=["http", "in-process"])
async def client(
    gateway_factory: Any, request: pytest.FixtureRequest
) -> AsyncIterator[GatewayClient]:
    """The gateway with its stubs behind an HTTP client, and called in-process: both ways of
    forwarding answer alike."""
    async with gateway_factory(in_process=request.param == "in-process") as c:
        yield c
