"""Following a video until it is ready or has failed: the admin event stream, or, where the
server has none (or it breaks off), a poll every second."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from admincli.api import AdminApi
from admincli.errors import ApiError, CliError, NetworkError

FINAL = ("ready", "failed")
POLL_SECONDS = 1.0

Changed = Callable[[dict[str, Any]], None]


def _from_events(api: AdminApi, video_id: int, on_change: Changed) -> dict[str, Any] | None:
    """The video's final state from the stream; None if the stream is unavailable or ended."""
    try:
        for event, data in api.events():
            if not isinstance(data, dict) or data.get("id") != video_id:
                continue
            if event == "deleted":
                raise CliError(f"Video {video_id} was deleted.")
            if event == "video":
                on_change(data)
                if data.get("status") in FINAL:
                    return data
    except NetworkError:
        return None
    except ApiError as exc:
        if exc.status in (404, 405, 501):  # a server without the stream
            return None
        raise
    return None


def follow(api: AdminApi, video_id: int, on_change: Changed) -> dict[str, Any]:
    """Calls `on_change` with each new state of the video; returns the ready or failed one."""
    video = api.video(video_id)
    on_change(video)
    if video.get("status") in FINAL:
        return video
    final = _from_events(api, video_id, on_change)
    while final is None:
        video = api.video(video_id)  # a 404 here: deleted meanwhile, said as the API says it
        on_change(video)
        if video.get("status") in FINAL:
            final = video
        else:
            time.sleep(POLL_SECONDS)
    return final
