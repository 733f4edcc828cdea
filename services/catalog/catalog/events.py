"""The admin's live stream of video changes as server-sent events (`text/event-stream`).

At connect one `event: video` per video (`data:` its AdminVideo JSON), then one `event: video`
for every change and `event: deleted` (`data: {"id": N}`) for every removal, as
`catalog.changes` sees them; a `: keep-alive` comment when nothing happened for
`keepalive_seconds`, so that no proxy on the way (the gateway's upstream read time-out, an
nginx edge) takes the quiet stream for a dead one.

The stream ends when the client goes away, and after `stream_seconds` in any case: the
browser's EventSource reconnects by itself (after the `retry:` delay sent first) and gets a
fresh snapshot, and the reconnect passes the gateway again, so a logged-out or demoted admin
stops receiving. Each frame is flushed as soon as it is made; `X-Accel-Buffering: no` keeps an
nginx edge from buffering it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterable

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from catalog.changes import Change, VideoWatcher

MEDIA_TYPE = "text/event-stream"
RECONNECT_MS = 1000
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
KEEPALIVE = b": keep-alive\n\n"


def frame(change: Change) -> bytes:
    if change.video is None:
        return f"event: deleted\ndata: {json.dumps({'id': change.video_id})}\n\n".encode()
    return f"event: video\ndata: {change.video}\n\n".encode()  # JSON has no raw line breaks


def frames(changes: Iterable[Change]) -> bytes:
    return b"".join(frame(c) for c in changes)


async def video_events(
    watcher: VideoWatcher, *, keepalive_seconds: float, stream_seconds: float
) -> AsyncIterator[bytes]:
    async with watcher.listen() as listener:
        yield f"retry: {RECONNECT_MS}\n\n".encode() + frames(listener.snapshot)
        ends = time.monotonic() + stream_seconds
        while (left := ends - time.monotonic()) > 0:
            batch = await listener.next(min(keepalive_seconds, left))
            if batch is None:
                return  # dropped: the client reconnects and starts from a snapshot
            if batch:
                yield frames(batch)
            elif time.monotonic() < ends:
                yield KEEPALIVE


class EventStreamResponse(StreamingResponse):
    """A StreamingResponse that always watches for the client's disconnect, whatever the
    server's ASGI version (Starlette only does below 2.4, and would otherwise notice a gone
    client only at its next write): the stream, and its listener, end at once."""

    media_type = MEDIA_TYPE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                with contextlib.suppress(OSError):  # the client is gone
                    await self.stream_response(send)
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()
