"""Which queue receives which routing keys. Every bus adapter declares all of it on start,
so a message published before its consumer first ran is kept, never dropped."""

from __future__ import annotations

from dataclasses import dataclass

from common import events


@dataclass(frozen=True)
class QueueSpec:
    name: str
    routing_keys: tuple[str, ...]


MAILER = QueueSpec("mailer.mail", (events.MAIL_ACTIVATION, events.MAIL_PASSWORD_RESET))
TRANSCODER = QueueSpec("transcoder.jobs", (events.VIDEO_UPLOADED,))
CATALOG = QueueSpec(
    "catalog.video-results",
    (events.VIDEO_PROGRESS, events.VIDEO_TRANSCODED, events.VIDEO_FAILED),
)

QUEUES: dict[str, QueueSpec] = {q.name: q for q in (MAILER, TRANSCODER, CATALOG)}
