"""Identity stays in rotation while the broker is away: the outbox keeps its events until the
relay gets them out, so the bus is reported in `/readyz` but does not decide it."""

from __future__ import annotations

from pathlib import Path

import httpx

from common.bus.memory import InMemoryBus
from common.config import Settings
from common.kv.memory import InMemoryKeyValueStore
from common.ports import Ports
from identity.app import create_app


async def test_ready_while_the_broker_is_away(tmp_path: Path) -> None:
    bus = InMemoryBus()

    async def broker_away() -> bool:
        return False

    bus.ping = broker_away  # type: ignore[method-assign]
    ports = Ports(bus=bus, kv=InMemoryKeyValueStore())
    settings = Settings(data_dir=tmp_path, migrate_on_start=True, log_json=False)
    app = create_app(settings, ports)
    await ports.start()
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            ready = await c.get("/readyz")
    finally:
        await ports.close()
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "kv": "ok", "bus": "failing"}
