"""Recording stand-ins for the ports: a bus and an object store that remember what they were
asked to do, for tests that check the order, the timing or the keys of what a service did."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from common.bus.port import Bus
from common.events import Envelope
from common.storage.local import LocalObjectStore


class RecordingBus:
    """Records every envelope published (and the monotonic time it came), then hands it on
    to `inner` when there is one; other calls go to `inner` as they are.

    A publish fails with `ConnectionError("broker unreachable")`, and is not recorded, when it
    is one of the first `fail_first` or when `fail_if(envelope)` holds.
    """

    def __init__(
        self,
        inner: Bus | None = None,
        *,
        fail_first: int = 0,
        fail_if: Callable[[Envelope], bool] | None = None,
    ) -> None:
        self.inner = inner
        self.published: list[Envelope] = []
        self.times: list[float] = []
        self.calls = 0
        self.fail_first = fail_first
        self.fail_if = fail_if

    async def publish(self, envelope: Envelope) -> None:
        self.calls += 1
        if self.calls <= self.fail_first or (self.fail_if is not None and self.fail_if(envelope)):
            raise ConnectionError("broker unreachable")
        self.published.append(envelope)
        self.times.append(time.monotonic())
        if self.inner is not None:
            await self.inner.publish(envelope)

    def timed(self) -> list[tuple[float, Envelope]]:
        """(monotonic time, envelope) of every recorded publish, in order."""
        return list(zip(self.times, self.published, strict=True))

    def routing_keys(self) -> list[str]:
        return [e.routing_key for e in self.published]

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)


class RecordingStore(LocalObjectStore):
    """A LocalObjectStore that remembers the keys it was asked to read (`read_keys`: stat and
    ranges) and to write (`puts`, in order); `before_put(key)` runs before each file is stored
    and can interfere. `inner` is the same directory unrecorded, for a test's own set-up."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.inner = LocalObjectStore(root)
        self.read_keys: list[str] = []
        self.puts: list[str] = []
        self.before_put: Callable[[str], Awaitable[Any]] | None = None

    async def stat(self, key: str):  # type: ignore[no-untyped-def]
        self.read_keys.append(key)
        return await super().stat(key)

    def iter_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        self.read_keys.append(key)
        return super().iter_range(key, start, end)

    async def open_object(self, key: str):  # type: ignore[no-untyped-def]
        self.read_keys.append(key)
        return await super().open_object(key)

    async def put_file(self, key: str, path: Path, content_type: str):  # type: ignore[no-untyped-def]
        if self.before_put is not None:
            await self.before_put(key)
        self.puts.append(key)
        return await super().put_file(key, path, content_type)

    async def put_bytes(self, key: str, data: bytes, content_type: str):  # type: ignore[no-untyped-def]
        self.puts.append(key)
        return await super().put_bytes(key, data, content_type)
