"""Which queue receives which routing keys, and how long its failed messages are retried.
Every bus adapter declares all of it on start, so a message published before its consumer
first ran is kept, never dropped."""

from __future__ import annotations

from dataclasses import dataclass

from common import events


@dataclass(frozen=True)
class QueueSpec:
    name: str
    routing_keys: tuple[str, ...]
    retry_delays_ms: tuple[int, ...] | None = None
    """The queue's own retry schedule; None: the bus-wide BUS_RETRY_DELAYS_MS."""


def outage_schedule(first_ms: tuple[int, ...], *, cap_ms: int, total_ms: int) -> tuple[int, ...]:
    """`first_ms`, then `cap_ms` as often as it takes for the delays to add up to `total_ms`:
    retries that start fast (a blip) and keep going, sparsely, through a long outage."""
    delays = list(first_ms)
    while sum(delays) < total_ms:
        delays.append(cap_ms)
    return tuple(delays)


SECOND, MINUTE, HOUR = 1000, 60_000, 3_600_000

MAIL_RETRY_DELAYS_MS = outage_schedule(
    (1 * SECOND, 5 * SECOND, 30 * SECOND, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE),
    cap_ms=30 * MINUTE,
    total_ms=24 * HOUR,
)
"""A mail waits out an SMTP relay that is down for a day (maintenance, a blocked account)
instead of being parked after a minute: the person is waiting for exactly this mail."""

MAILER = QueueSpec(
    "mailer.mail",
    (events.MAIL_ACTIVATION, events.MAIL_PASSWORD_RESET),
    retry_delays_ms=MAIL_RETRY_DELAYS_MS,
)
TRANSCODER = QueueSpec("transcoder.jobs", (events.VIDEO_UPLOADED,))
CATALOG = QueueSpec(
    "catalog.video-results",
    (events.VIDEO_PROGRESS, events.VIDEO_TRANSCODED, events.VIDEO_FAILED),
)

QUEUES: dict[str, QueueSpec] = {q.name: q for q in (MAILER, TRANSCODER, CATALOG)}
