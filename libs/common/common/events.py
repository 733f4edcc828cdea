"""The events services exchange over the bus, as pydantic models.

Every message travels in an `Envelope`; its `id` lets consumers drop redeliveries.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field

from common import tracing

MAIL_ACTIVATION = "mail.activation"
MAIL_PASSWORD_RESET = "mail.password_reset"
VIDEO_UPLOADED = "video.uploaded"
VIDEO_PROGRESS = "video.progress"
VIDEO_TRANSCODED = "video.transcoded"
VIDEO_FAILED = "video.failed"

EventT = TypeVar("EventT", bound=BaseModel)


class Envelope(BaseModel):
    """What is on the wire: a routing key, a unique id and the event's payload.

    `headers`: the request id and W3C trace context of the request that caused the event
    (`common.tracing`), so its consumer logs and traces under them."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    routing_key: str
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    payload: dict[str, Any]
    headers: dict[str, str] = Field(default_factory=dict)

    def parse(self, model: type[EventT]) -> EventT:
        return model.model_validate(self.payload)


class Event(BaseModel):
    """Base of every payload; `routing_key` names the event on the bus."""

    ROUTING_KEY: ClassVar[str] = ""

    @property
    def routing_key(self) -> str:
        return self.ROUTING_KEY

    def envelope(self) -> Envelope:
        """The event on the wire, in the current request's context (captured now)."""
        return Envelope(
            routing_key=self.routing_key,
            payload=self.model_dump(mode="json"),
            headers=tracing.headers(),
        )


MailKind = Literal["activation", "password_reset"]


class MailRequested(Event):
    """identity -> mailer: send one account mail.

    `sealed_link` is the link sealed with the key only identity and the mailer hold
    (`common.security.sealing`): the event waits in identity's outbox table and on the bus,
    and the token in the link must never be readable there."""

    kind: MailKind
    address: str
    sealed_link: str

    @property
    def routing_key(self) -> str:
        return MAIL_ACTIVATION if self.kind == "activation" else MAIL_PASSWORD_RESET


class VideoUploaded(Event):
    """catalog -> transcoder: a source is in object storage, make the HLS ladder."""

    ROUTING_KEY: ClassVar[str] = VIDEO_UPLOADED
    video_id: int
    source_key: str
    has_custom_thumbnail: bool = False


class VideoProgress(Event):
    ROUTING_KEY: ClassVar[str] = VIDEO_PROGRESS
    video_id: int
    percent: int = Field(ge=0, le=100)


class VideoTranscoded(Event):
    ROUTING_KEY: ClassVar[str] = VIDEO_TRANSCODED
    video_id: int
    renditions: list[str]
    duration: float
    width: int
    height: int
    thumbnail_key: str | None = None
    rendition_bytes: dict[str, int] = Field(default_factory=dict)
    """Bytes stored per rendition (its playlist and segments). Defaulted: a message of a
    transcoder from before the field still parses (its sizes are then unknown)."""


class VideoFailed(Event):
    ROUTING_KEY: ClassVar[str] = VIDEO_FAILED
    video_id: int
    reason: str
