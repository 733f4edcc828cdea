"""In-process adapter of the bus port, for the all-in-one wiring and tests.

Same semantics as the RabbitMQ adapter, minus durability: every topology queue exists from
construction (so a message published before its consumer starts is kept), messages travel as
JSON (each delivery is a fresh `Envelope`, as off the wire), failed messages come back after
the same retry delays, then are parked in a per-queue dead-letter list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common import tracing
from common.bus.port import Handler, ParkedCounter, plan_after_failure, retry_schedules
from common.bus.topology import QUEUES, QueueSpec
from common.events import Envelope
from common.metrics import dead_lettered

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Delivery:
    body: str  # the envelope's JSON
    attempts: int = 0  # failed handler runs so far


@dataclass(frozen=True)
class _Parked:
    body: str
    reason: str


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is exactly one word, `#` zero or more."""

    def match(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        if p[0] == "#":
            return any(match(p[1:], k[i:]) for i in range(len(k) + 1))
        if not k:
            return False
        return (p[0] == "*" or p[0] == k[0]) and match(p[1:], k[1:])

    return match(pattern.split("."), routing_key.split("."))


class InMemoryBus:
    """The bus inside one process: an asyncio queue per topology queue."""

    durable = False

    def __init__(
        self,
        *,
        retry_delays_ms: Sequence[int] = (1000, 5000, 30000),
        queue_retry_delays_ms: Mapping[str, Sequence[int]] | None = None,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self._delays_ms = retry_schedules(retry_delays_ms, queue_retry_delays_ms)
        self.parked = ParkedCounter()
        self._shutdown_timeout = shutdown_timeout
        self._queues: dict[str, asyncio.Queue[_Delivery]] = {
            name: asyncio.Queue() for name in QUEUES
        }
        self._dead: dict[str, list[_Parked]] = {name: [] for name in QUEUES}
        self._dispatchers: list[asyncio.Task[None]] = []
        self._consumed: set[str] = set()
        self._inflight: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.Task[None]] = set()
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        """Stop dispatching, let running handlers finish (up to `shutdown_timeout`), and put
        pending retries back in their queues. Handlers still running may publish (progress,
        results) until they are done; only then does the bus refuse."""
        dispatchers, self._dispatchers = self._dispatchers, []
        for task in dispatchers:
            task.cancel()
        await asyncio.gather(*dispatchers, return_exceptions=True)
        self._consumed.clear()
        if self._inflight:
            _done, pending = await asyncio.wait(set(self._inflight), timeout=self._shutdown_timeout)
            for task in pending:
                task.cancel()  # _deliver requeues its message
            if pending:
                await asyncio.wait(pending)
        timers = set(self._timers)
        for task in timers:
            task.cancel()  # _retry_later requeues on cancel
        await asyncio.gather(*timers, return_exceptions=True)
        self._started = False

    async def ping(self) -> bool:
        return self._started

    async def drain(self, timeout: float = 5) -> None:
        """Wait until every consumed queue is empty, no retry is pending and no handler runs.

        Queues nobody consumes are ignored (their messages wait for a consumer). Raises
        `TimeoutError` if the bus is still busy after `timeout` seconds.
        """
        async with asyncio.timeout(timeout):
            # the state spans queues, handler tasks and retry timers: polling is simpler than
            # signalling every change, and this is for tests and shutdown only
            while not self._idle():  # noqa: ASYNC110
                await asyncio.sleep(0.005)

    def _idle(self) -> bool:
        return (
            not self._inflight
            and not self._timers
            and all(self._queues[name].empty() for name in self._consumed)
        )

    # ------------------------------------------------------------------ publish

    async def publish(self, envelope: Envelope) -> None:
        self._require_started()
        with tracing.producing(envelope) as traced:
            self._publish(traced)

    def _publish(self, envelope: Envelope) -> None:
        targets = [
            spec.name
            for spec in QUEUES.values()
            if any(topic_matches(rk, envelope.routing_key) for rk in spec.routing_keys)
        ]
        if not targets:
            raise LookupError(f"no queue is bound to routing key {envelope.routing_key!r}")
        body = envelope.model_dump_json()
        for name in targets:
            self._queues[name].put_nowait(_Delivery(body))

    # ------------------------------------------------------------------ consume

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 10) -> None:
        self._require_started()
        spec = _spec(queue)
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        self._consumed.add(spec.name)
        self._dispatchers.append(asyncio.create_task(self._dispatch(spec.name, handler, prefetch)))

    async def _dispatch(self, queue: str, handler: Handler, prefetch: int) -> None:
        """Start a handler per message, at most `prefetch` at a time (like basic.qos)."""
        slots = asyncio.Semaphore(prefetch)
        source = self._queues[queue]
        while True:
            await slots.acquire()
            try:
                delivery = await source.get()
            except BaseException:
                slots.release()
                raise
            task = asyncio.create_task(self._deliver(queue, handler, delivery))
            self._inflight.add(task)

            def done(t: asyncio.Task[None]) -> None:
                self._inflight.discard(t)
                slots.release()

            task.add_done_callback(done)

    async def _deliver(self, queue: str, handler: Handler, delivery: _Delivery) -> None:
        envelope = Envelope.model_validate_json(delivery.body)
        with tracing.consuming(envelope, queue):
            await self._run(queue, handler, delivery, envelope)

    async def _run(
        self, queue: str, handler: Handler, delivery: _Delivery, envelope: Envelope
    ) -> None:
        attempt = delivery.attempts + 1
        try:
            await handler(envelope)
        except asyncio.CancelledError:
            # like an unacked message on a closed channel: back to the queue
            self._queues[queue].put_nowait(delivery)
            raise
        except Exception as exc:
            plan = plan_after_failure(
                exc,
                attempt=attempt,
                delays_ms=self._delays_ms(queue),
                envelope=envelope,
                queue=queue,
            )
            if plan.retry_delay_ms is None:
                self._dead[queue].append(_Parked(delivery.body, plan.park_reason))
                self.parked[queue] += 1
                dead_lettered(queue)
            else:
                retry = _Delivery(delivery.body, attempt)
                timer = asyncio.create_task(
                    self._retry_later(queue, retry, plan.retry_delay_ms / 1000)
                )
                self._timers.add(timer)
                timer.add_done_callback(self._timers.discard)

    async def _retry_later(self, queue: str, delivery: _Delivery, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            # also on cancellation (close): the message must not vanish
            self._queues[queue].put_nowait(delivery)

    # ------------------------------------------------------------------ dead letters

    async def dead_letters(self, queue: str) -> list[Envelope]:
        return [Envelope.model_validate_json(p.body) for p in self._dead[_spec(queue).name]]

    async def dead_letter_count(self, queue: str) -> int:
        return len(self._dead[_spec(queue).name])

    async def replay_dead_letters(self, queue: str, *, limit: int | None = None) -> int:
        name = _spec(queue).name
        parked = self._dead[name]
        count = len(parked) if limit is None else min(limit, len(parked))
        replay, self._dead[name] = parked[:count], parked[count:]
        for entry in replay:
            self._queues[name].put_nowait(_Delivery(entry.body))
        return count

    def dead_letter_reasons(self, queue: str) -> list[str]:
        """Why each parked message was parked, in the order of `dead_letters`."""
        return [p.reason for p in self._dead[_spec(queue).name]]

    # ------------------------------------------------------------------ helpers

    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError("InMemoryBus is not started")

    def __repr__(self) -> str:
        sizes: dict[str, Any] = {name: q.qsize() for name, q in self._queues.items()}
        return f"<InMemoryBus queues={sizes}>"


def _spec(queue: str) -> QueueSpec:
    try:
        return QUEUES[queue]
    except KeyError:
        raise ValueError(f"unknown queue {queue!r}; see common.bus.topology") from None
