"""The catalog stays in rotation while the broker is away: the outbox keeps its events until
the relay gets them out, so the bus is reported in `/readyz` but does not decide it."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.bus.memory import InMemoryBus
from tests.support.catalog import running_catalog


async def test_ready_while_the_broker_is_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broker_away(_bus: InMemoryBus) -> bool:
        return False

    monkeypatch.setattr(InMemoryBus, "ping", broker_away)
    async with running_catalog(tmp_path) as catalog:
        ready = await catalog.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "database": "ok",
        "object_store": "ok",
        "bus": "failing",
    }
