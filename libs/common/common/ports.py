"""The bundle of ports a service runs with: bus, key-value store, object store.

The composition root (a service's `__main__` in the distributed wiring, `allinone` for
`make dev`) builds it from the settings and owns its lifecycle; services only use it. A
service declares the ports it needs (`PORTS` beside its `create_app`): only those are built,
connected and waited for, so the mailer never opens the object store nor the gateway the bus.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

from common.bus import Bus, create_bus
from common.config import Settings
from common.kv import KeyValueStore, create_kv
from common.startup import until_up, where
from common.storage import ObjectStore, create_object_store

Need = Literal["bus", "kv", "store"]
ALL_PORTS: frozenset[Need] = frozenset({"bus", "kv", "store"})

T = TypeVar("T")


class Ports:
    """The ports a service declared; asking for another one is a wiring error."""

    def __init__(
        self,
        bus: Bus | None = None,
        kv: KeyValueStore | None = None,
        store: ObjectStore | None = None,
        *,
        startup_timeout: float = 0.0,
        described: dict[str, str] | None = None,
    ) -> None:
        """`startup_timeout`: how long `start()` waits for the servers behind them (0: try
        once); `described`: how a port's server is named in the log while it is waited for."""
        self._bus, self._kv, self._store = bus, kv, store
        self.startup_timeout = startup_timeout
        self._described = described or {}

    @classmethod
    def from_settings(cls, settings: Settings, needs: Iterable[Need] = ALL_PORTS) -> Ports:
        wanted = frozenset(needs)
        described = {
            "bus": f"RabbitMQ at {where(settings.rabbitmq_url)}" if settings.rabbitmq_url else "",
            "kv": f"Redis at {where(settings.redis_url)}" if settings.redis_url else "",
            "store": f"S3 at {where(settings.s3_endpoint)}" if settings.s3_endpoint else "",
        }
        return cls(
            bus=create_bus(settings) if "bus" in wanted else None,
            kv=create_kv(settings) if "kv" in wanted else None,
            store=create_object_store(settings) if "store" in wanted else None,
            startup_timeout=settings.startup_timeout_seconds,
            described={k: v for k, v in described.items() if k in wanted and v},
        )

    @property
    def bus(self) -> Bus:
        return _declared("bus", self._bus)

    @property
    def kv(self) -> KeyValueStore:
        return _declared("kv", self._kv)

    @property
    def store(self) -> ObjectStore:
        return _declared("store", self._store)

    def _present(self) -> list[tuple[str, Any]]:
        ports = (("kv", self._kv), ("store", self._store), ("bus", self._bus))
        return [(name, port) for name, port in ports if port is not None]

    async def start(self, *, timeout: float | None = None) -> None:
        """Start every declared port, waiting (up to `timeout`, by default `startup_timeout`,
        in all) for servers that do not answer yet."""
        deadline = time.monotonic() + (self.startup_timeout if timeout is None else timeout)
        for name, port in self._present():
            what = self._described.get(name) or name
            remaining = max(deadline - time.monotonic(), 0.0)
            await until_up(what, port.start, timeout=remaining)

    async def close(self) -> None:
        for _name, port in reversed(self._present()):
            with contextlib.suppress(Exception):
                await port.close()


def _declared(name: str, port: T | None) -> T:
    if port is None:
        raise LookupError(f"the {name} port is not among the ports this service declared")
    return port
