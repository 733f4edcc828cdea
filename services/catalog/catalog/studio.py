"""The admin studio's catalog endpoints: retry a failed video, and the live event stream."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response

from catalog.changes import VideoWatcher
from catalog.dependencies import CatalogConfig, VideoId
from catalog.events import HEADERS, MEDIA_TYPE, EventStreamResponse, video_events
from catalog.retry import Retries
from catalog.schemas import AdminVideo
from common.http import SlashOptionalRouter
from common.openapi import error_responses
from common.security.principal import require_admin

EVENTS_PATH = "/api/admin/events/"


async def get_retries(request: Request) -> Retries:
    return request.app.state.retries


async def get_watcher(request: Request) -> VideoWatcher:
    return request.app.state.video_watcher


VideoRetries = Annotated[Retries, Depends(get_retries)]
Watcher = Annotated[VideoWatcher, Depends(get_watcher)]

studio_router = SlashOptionalRouter(tags=["admin"], dependencies=[Depends(require_admin)])

_EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "Server-sent events. First one `event: video` per video (`data:` an AdminVideo as "
            "JSON, newest first), then `event: video` whenever a video changes (status, "
            'progress, error, renditions, title, ...) and `event: deleted` (`data: {"id": N}`) '
            "when one is removed, within a second; a `: keep-alive` comment every "
            "`ADMIN_EVENTS_KEEPALIVE_SECONDS` (15 s by default) when nothing happens. The server "
            "ends the stream after a few minutes (and the browser's "
            "EventSource reconnects after the `retry:` delay, to a new snapshot)."
        ),
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


@studio_router.post(
    "/api/admin/videos/{video_id}/retry/",
    status_code=202,
    response_model=AdminVideo,
    responses=error_responses(404, 409),
)
async def retry_video(video_id: VideoId, retries: VideoRetries) -> AdminVideo:
    """Transcode a failed video again, from its uploaded file: 202 with the video now
    `processing`, progress 0, no error; 409 when it is not failed (or its file is gone)."""
    return await retries.retry(video_id)


@studio_router.get(EVENTS_PATH, response_class=EventStreamResponse, responses=_EVENT_STREAM)
async def video_event_stream(watcher: Watcher, config: CatalogConfig) -> EventStreamResponse:
    """Every video the admin sees, then each change as it happens (server-sent events)."""
    events = video_events(
        watcher,
        keepalive_seconds=config.admin_events_keepalive_seconds,
        stream_seconds=config.admin_events_stream_seconds,
    )
    return EventStreamResponse(events, headers=HEADERS)


@studio_router.api_route(EVENTS_PATH, methods=["HEAD"], include_in_schema=False)
async def video_event_stream_head() -> Response:
    return Response(status_code=200, media_type=MEDIA_TYPE, headers=HEADERS)
