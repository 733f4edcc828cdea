"""FastAPI dependencies of the catalog routes. All `async def`, though none awaits: FastAPI
runs a plain `def` dependency in a worker thread, a thread hop per request (two per video
segment, a fifth of its CPU) for a function that reads `app.state`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from catalog import media
from catalog.config import CatalogSettings
from catalog.refusals import VideoNotFound
from catalog.service import VideoService
from catalog.uploads import Uploads


async def get_videos(request: Request) -> VideoService:
    return request.app.state.videos


async def get_uploads(request: Request) -> Uploads:
    return request.app.state.uploads


async def get_catalog_settings(request: Request) -> CatalogSettings:
    return request.app.state.catalog_settings


async def video_id_from_path(video_id: str) -> int:
    """The `{video_id}` path segment as an id. Taken as text on purpose: FastAPI's own int
    conversion would answer a non-number (or one too big for the database) with a
    validation error instead of the 404 an unknown video gets."""
    parsed = media.parse_video_id(video_id)
    if parsed is None:
        raise VideoNotFound
    return parsed


Videos = Annotated[VideoService, Depends(get_videos)]
VideoUploads = Annotated[Uploads, Depends(get_uploads)]
CatalogConfig = Annotated[CatalogSettings, Depends(get_catalog_settings)]
VideoId = Annotated[int, Depends(video_id_from_path)]
