"""What a bus adapter must do. The contract tests in tests/common/test_bus_contract.py
run the same cases against every adapter."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
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
    log.error("attempt %d handling %s %s on %s failed, parking it", attempt, *what, exc_info=exc)
    return FailurePlan(None, f"retries exhausted: {exc!r}")


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
        retried after each delay of `retry_delays_ms`, then parked in the queue's dead letters.
        `PermanentError` skips the retries.
        """

    async def dead_letters(self, queue: str) -> list[Envelope]:
        """The envelopes parked for `queue` (for operators and tests); does not remove them."""
