"""The edge's question (deploy/edge, nginx): which stored rendition answers a playlist or
segment request, so that the edge serves those objects itself.

Asked by the gateway once it has authenticated the caller (`GET /internal/edge/authorize`),
for each (credentials, video, resolution) the edge has not authorised in the last
`EDGE_AUTH_SECONDS`. Same rules and same cache as the delivery routes
(`VideoService.serving_rendition`: readiness from the per-process `PlayableCache`, no database
query per call, and the contract's fallback to another rendition), so the edge and the catalog
can never disagree. Never routed by the gateway's public table.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from catalog import media
from catalog.dependencies import VideoId, Videos
from common.openapi import error_responses
from common.security.principal import require_user

edge_router = APIRouter(tags=["internal"], dependencies=[Depends(require_user)])


class EdgeObjects(BaseModel):
    prefix: str
    """The object key prefix of the rendition (`hls/<id>/<rendition>`): its playlist is
    `<prefix>/index.m3u8`, its segments `<prefix>/<segment name>`."""


def rendition_prefix(video_id: int, rendition: str) -> str:
    """The folder of the rendition's playlist, which also holds its segments."""
    return media.playlist_key(video_id, rendition).rsplit("/", 1)[0]


@edge_router.get(
    "/internal/edge/{video_id}/{resolution}",
    response_model=EdgeObjects,
    responses=error_responses(404),
)
async def edge_objects(video_id: VideoId, resolution: str, videos: Videos) -> EdgeObjects:
    """Where the objects answering `resolution` of a playable video are; 404 JSON when the
    video is unknown, not playable yet, or `resolution` is not a rendition name."""
    rendition = await videos.serving_rendition(video_id, resolution)
    return EdgeObjects(prefix=rendition_prefix(video_id, rendition))
