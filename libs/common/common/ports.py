"""The bundle of ports a service runs with: bus, key-value store, object store.

The composition root (a service's `__main__` in the distributed wiring, `allinone` for
`make dev`) builds it from the settings and owns its lifecycle; services only use it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from common.bus import Bus, create_bus
from common.config import Settings
from common.kv import KeyValueStore, create_kv
from common.storage import ObjectStore, create_object_store


@dataclass
class Ports:
    bus: Bus
    kv: KeyValueStore
    store: ObjectStore

    @classmethod
    def from_settings(cls, settings: Settings) -> Ports:
        return cls(
            bus=create_bus(settings),
            kv=create_kv(settings),
            store=create_object_store(settings),
        )

    async def start(self) -> None:
        await self.kv.start()
        await self.store.start()
        await self.bus.start()

    async def close(self) -> None:
        for closer in (self.bus.close, self.store.close, self.kv.close):
            with contextlib.suppress(Exception):
                await closer()
