"""The app: its lifespan consumes the mailer queue; /healthz and /readyz; nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from common.bus.memory import InMemoryBus
from common.bus.topology import MAILER
from common.config import Settings
from common.events import Envelope
from common.kv.memory import InMemoryKeyValueStore
from common.ports import Ports
from mailer.app import create_app
from tests.support.http import free_port
from tests.support.mailer import ACTIVATION_LINK, activation, parse, parts, settings_for
from tests.support.services import SmtpCapture


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, InMemoryBus]]:
    """What a composition root does: start the ports, then run the app's lifespan."""
    bus = InMemoryBus(retry_delays_ms=[20, 20])
    ports = Ports(bus=bus, kv=InMemoryKeyValueStore(), store=None)  # type: ignore[arg-type]
    await ports.kv.start()
    await bus.start()
    app = create_app(settings, ports)
    try:
        async with app.router.lifespan_context(app):
            yield app, bus
    finally:
        await bus.close()


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mailer")


async def test_end_to_end_through_the_bus(
    smtp_capture: SmtpCapture, smtp_settings: Settings
) -> None:
    async with running(smtp_settings) as (_app, bus):
        envelope = activation("e2e@example.com")
        await bus.publish(envelope)
        await bus.publish(envelope)  # published twice (e.g. by an outbox relay): one mail
        await bus.drain()
        assert await bus.dead_letters(MAILER.name) == []

    [captured] = smtp_capture.messages
    assert captured.recipients == ["e2e@example.com"]
    assert ACTIVATION_LINK in parts(parse(captured.data)).text


async def test_bad_payload_is_dead_lettered_without_retries(smtp_settings: Settings) -> None:
    async with running(smtp_settings) as (_app, bus):
        await bus.publish(Envelope(routing_key="mail.activation", payload={"kind": "x"}))
        await bus.drain()
        assert len(await bus.dead_letters(MAILER.name)) == 1
        assert bus.dead_letter_reasons(MAILER.name)[0].startswith("permanent")


async def test_unreachable_smtp_is_retried_then_dead_lettered(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, smtp_host="127.0.0.1", smtp_port=free_port())
    async with running(settings) as (_app, bus):
        await bus.publish(activation())
        await bus.drain()
        assert bus.dead_letter_reasons(MAILER.name)[0].startswith("retries exhausted")


async def test_console_mode_end_to_end(console_settings: Settings) -> None:
    async with running(console_settings) as (_app, bus):
        envelope = activation()
        await bus.publish(envelope)
        await bus.drain()
    [eml] = list((console_settings.data_dir / "outbox").glob(f"*-activation-{envelope.id}.eml"))
    assert ACTIVATION_LINK in parts(parse(eml.read_bytes())).text


async def test_health_and_readiness(smtp_settings: Settings) -> None:
    async with running(smtp_settings) as (app, _bus), client(app) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"bus": "ok", "kv": "ok", "smtp": "ok"}
        for path in ("/docs", "/openapi.json", "/send"):
            response = await http.get(path)
            assert response.status_code == 404
            assert "detail" in response.json()


async def test_ready_without_smtp_server_which_is_reported(tmp_path: Path) -> None:
    """Mail waits in the queue's retries while the relay is down: readiness (which takes a
    replica out of rotation) does not hang on SMTP answering at that instant."""
    settings = settings_for(tmp_path, smtp_host="127.0.0.1", smtp_port=free_port())
    async with running(settings) as (app, _bus), client(app) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["smtp"] == "failing"


async def test_console_mode_has_no_smtp_check(console_settings: Settings) -> None:
    async with running(console_settings) as (app, _bus), client(app) as http:
        assert (await http.get("/readyz")).json()["checks"] == {"bus": "ok", "kv": "ok"}
