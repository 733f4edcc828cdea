"""What a bus adapter must do. The contract tests in tests/common/test_bus_contract.py
run the same cases against every adapter."""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

from common.events import Envelope

Handler = Callable[[Envelope], Awaitable[None]]
log = logging.getLogger("common.bus")


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help: the message goes to the dead letters."""


class FailurePlan(NamedTuple):
    retry_delay_ms: int | None  # None: park the message in the dead letters
    park_reason: str


def plan_after_failure(
    exc: Exception, *, attempt: int, delays_ms: Sequence[int], envelope: Envelope, queue: str
) -> FailurePlan:
    """The retry policy every adapter follows after a handler raised on its `attempt`-th try:
    the delay before the next try, or parking; logged once here."""
    what = (envelope.routing_key, envelope.id, queue)
    if isinstance(exc, PermanentError):
        log.error("permanent failure handling %s %s on %s, parking it", *what, exc_info=exc)
        return FailurePlan(None, f"permanent: {exc!r}")
    if attempt <= len(delays_ms):
        delay = delays_ms[attempt - 1]
        log.warning(
            "attempt %d handling %s %s on %s failed, retrying in %d ms",
            attempt,
            *what,
            delay,
            exc_info=exc,
        )
        return FailurePlan(delay, "")
    log.error(
        "attempt %d handling %s %s on %s failed, no retry left: parking it (replay with "
        "`python -m common.bus replay %s`)",
        attempt,
        *what,
        queue,
        exc_info=exc,
    )
    return FailurePlan(None, f"retries exhausted: {exc!r}")


def retry_schedules(
    default_ms: Sequence[int], per_queue: Mapping[str, Sequence[int]] | None = None
) -> Callable[[str], list[int]]:
    """The retry delays of a queue: its entry in `per_queue`, else `default_ms`."""
    default = [int(d) for d in default_ms]
    own = {name: [int(d) for d in delays] for name, delays in (per_queue or {}).items()}
    for name, delays in [("default", default), *own.items()]:
        if any(d <= 0 for d in delays):
            raise ValueError(f"retry delays of {name} must be positive milliseconds: {delays}")
    return lambda queue: own.get(queue, default)


class ParkedCounter(collections.Counter[str]):
    """Messages this process parked, per queue, since it started: what a metric exposes
    (the parked messages themselves outlive the process on a durable bus; see
    `Bus.dead_letter_count`)."""


class Bus(Protocol):
    durable: bool
    """Whether published messages outlive this process (a broker). Consumers whose work
    must not be lost re-issue it at start-up over a bus that is not."""

    async def start(self) -> None:
        """Connect and declare the whole topology (exchange, queues, retry and dead letters)."""

    async def close(self) -> None:
        """Stop consumers (letting the message in hand finish) and disconnect."""

    async def ping(self) -> bool:
        """True when the broker connection is up (readiness)."""

    async def publish(self, envelope: Envelope) -> None:
        """Publish durably; returns once the broker has confirmed it. Raises on failure."""

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 10) -> None:
        """Deliver messages of `queue` (a name from `topology.QUEUES`) to `handler`.

        The message is acknowledged after the handler returns. If it raises, the message is
        retried after each delay of the queue's retry schedule, then parked in the queue's dead
        letters (logged at ERROR with the queue and message id, counted in `parked`).
        `PermanentError` skips the retries.
        """

    parked: ParkedCounter
    """How many messages this process has parked, per queue (a metric)."""

    async def dead_letters(self, queue: str) -> list[Envelope]:
        """The envelopes parked for `queue` (for operators and tests); does not remove them."""

    async def dead_letter_count(self, queue: str) -> int:
        """How many messages are parked for `queue` right now (by any process)."""

    async def replay_dead_letters(self, queue: str, *, limit: int | None = None) -> int:
        """Give the parked messages of `queue` (the oldest `limit`, default all) back to it,
        with a fresh retry schedule; returns how many. At least once: consumers deduplicate
        on the envelope id, so a message both replayed and delivered is handled once."""
