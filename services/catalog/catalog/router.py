"""The video, admin and thumbnail endpoints of CONTRACT.md: parse, call the service, answer.

The gateway authenticates callers and forwards who they are in trusted headers;
`require_user` / `require_admin` read them. Thumbnails are public on purpose: they load in an
`<img>` without credentials, and the random version in their URL makes them unguessable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from catalog import media
from catalog.config import CatalogSettings
from catalog.delivery import etag_matches, object_response
from catalog.dependencies import Limits, VideoId, Videos
from catalog.formstream import FormStream, MalformedForm, NotMultipart
from catalog.schemas import AdminVideo, PublicVideo, VideoPatchIn, field_errors
from catalog.service import (
    MALFORMED_FORM,
    InvalidInput,
    NotFound,
    Refusal,
    TooLarge,
    UnsupportedMedia,
    VideoNotFound,
    invalid,
)
from common.errors import ApiError
from common.http import SlashOptionalRouter
from common.security.principal import require_admin, require_user

FORM_OVERHEAD = 1024 * 1024
"""Room for the text fields, part headers and boundaries on top of file and thumbnail."""
MAX_JSON_BODY = 64 * 1024
PLAYLIST_CACHE = "private, no-cache"
SEGMENT_CACHE = "private, max-age=31536000, immutable"
THUMBNAIL_CACHE = "public, max-age=31536000, immutable"
LIST_CACHE = "private, no-cache"
_NOT_FOUND = {404: {"description": "Unknown video, resolution or segment"}}

REFUSAL_STATUS: dict[type[Refusal], int] = {
    InvalidInput: 400,
    NotFound: 404,
    TooLarge: 413,
    UnsupportedMedia: 415,
}


async def answer_refusal(_request: Request, exc: Exception) -> JSONResponse:
    """A use case's refusal, answered with its status in the contract's error shape."""
    assert isinstance(exc, Refusal)
    status = next(REFUSAL_STATUS[k] for k in type(exc).__mro__ if k in REFUSAL_STATUS)
    error = ApiError(status, exc.detail, fields=exc.fields)
    return JSONResponse(error.body, status_code=error.status_code)


# full paths, no router prefix: a prefixed "/" route would lose its slash-less twin
admin_router = SlashOptionalRouter(tags=["admin"], dependencies=[Depends(require_admin)])
video_router = SlashOptionalRouter(tags=["video"], dependencies=[Depends(require_user)])
thumbnail_router = SlashOptionalRouter(tags=["thumbnails"])


def read_route(router: SlashOptionalRouter, path: str) -> Callable[[Any], Any]:
    """GET, plus HEAD as a separate route hidden from the schema (one route with both
    methods would give two OpenAPI operations the same id)."""

    def decorator(func: Any) -> Any:
        router.api_route(path, methods=["GET"], response_class=Response, responses=_NOT_FOUND)(func)
        router.api_route(path, methods=["HEAD"], include_in_schema=False)(func)
        return func

    return decorator


# ---------------------------------------------------------------------- admin


def max_form_bytes(limits: CatalogSettings) -> int:
    return limits.max_upload_bytes + limits.max_thumbnail_bytes + FORM_OVERHEAD


@admin_router.post("/api/admin/videos/", status_code=201, response_model=AdminVideo)
async def upload_video(request: Request, videos: Videos, limits: Limits) -> AdminVideo:
    """Multipart `file`, `title`, `description`, `category`, optional `thumbnail`; streamed
    into object storage as it arrives."""
    limit = max_form_bytes(limits)
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, videos.upload_too_large_message())  # before reading any of it
    form = _open_form(request, limit)
    try:
        return await videos.create(form)
    except ClientDisconnect:
        raise ApiError(400, "The upload was interrupted.") from None


@admin_router.get("/api/admin/videos/", response_model=list[AdminVideo])
async def list_videos(videos: Videos) -> list[AdminVideo]:
    return await videos.list_admin()


@admin_router.get("/api/admin/videos/{video_id}/", response_model=AdminVideo, responses=_NOT_FOUND)
async def get_video(video_id: VideoId, videos: Videos) -> AdminVideo:
    return await videos.get_admin(video_id)


@admin_router.patch(
    "/api/admin/videos/{video_id}/", response_model=AdminVideo, responses=_NOT_FOUND
)
async def edit_video(video_id: VideoId, request: Request, videos: Videos) -> AdminVideo:
    """JSON with any of title, description, category; or multipart with those and/or a new
    `thumbnail`."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        await videos.visible(video_id)  # 404 before reading an image for nothing
        form = _open_form(request, videos.config.max_thumbnail_bytes + FORM_OVERHEAD)
        try:
            patch = await videos.read_patch_form(form)
        except ClientDisconnect:
            raise ApiError(400, "The request was interrupted.") from None
        return await videos.update(video_id, patch.changes, patch.thumbnail)
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(415, "Send JSON or multipart/form-data.")
    changes = _patch_from_json(await _read_small(request, MAX_JSON_BODY))
    return await videos.update(video_id, changes)


@admin_router.delete(
    "/api/admin/videos/{video_id}/", status_code=204, response_class=Response, responses=_NOT_FOUND
)
async def delete_video(video_id: VideoId, videos: Videos) -> Response:
    await videos.delete(video_id)
    return Response(status_code=204)


def _open_form(request: Request, limit: int) -> FormStream:
    try:
        return FormStream(request.headers.get("content-type"), _limited(request, limit))
    except NotMultipart:
        raise ApiError(415, "Send the video as multipart/form-data.") from None
    except MalformedForm:
        raise ApiError(400, MALFORMED_FORM) from None


async def _limited(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, refused with 413 once it grows past `limit` (a
    Content-Length can be absent, or lie)."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise ApiError(413)
        yield chunk


async def _read_small(request: Request, limit: int) -> bytes:
    body = bytearray()
    try:
        async for chunk in _limited(request, limit):
            body += chunk
    except ClientDisconnect:
        raise ApiError(400, "The request was interrupted.") from None
    return bytes(body)


def _patch_from_json(body: bytes) -> VideoPatchIn:
    if not body.strip():
        return VideoPatchIn()
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiError(400, "Malformed JSON body.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Expected a JSON object.")
    try:
        return VideoPatchIn.model_validate(data)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None


# ---------------------------------------------------------------------- users


@video_router.get("/api/video/", response_model=list[PublicVideo])
async def video_list(request: Request, videos: Videos) -> Response:
    """Ready videos, newest first; a strong ETag over the exact bytes, 304 when unchanged."""
    body = await videos.public_list_json()
    etag = f'"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": LIST_CACHE}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@read_route(video_router, "/api/video/{video_id}/master.m3u8")
async def master_playlist(video_id: VideoId, request: Request, videos: Videos) -> Response:
    await videos.playable(video_id)
    return await object_response(
        request,
        videos.store,
        media.master_key(video_id),
        media_type=media.PLAYLIST_TYPE,
        cache_control=PLAYLIST_CACHE,
    )


@read_route(video_router, "/api/video/{video_id}/{resolution}/index.m3u8")
async def rendition_playlist(
    video_id: VideoId, resolution: str, request: Request, videos: Videos
) -> Response:
    rendition = await _serving_rendition(videos, video_id, resolution)
    return await object_response(
        request,
        videos.store,
        media.playlist_key(video_id, rendition),
        media_type=media.PLAYLIST_TYPE,
        cache_control=PLAYLIST_CACHE,
    )


@read_route(video_router, "/api/video/{video_id}/{resolution}/{segment}/")
async def rendition_segment(
    video_id: VideoId, resolution: str, segment: str, request: Request, videos: Videos
) -> Response:
    if not media.SEGMENT_NAME.fullmatch(segment):
        raise ApiError(404)
    rendition = await _serving_rendition(videos, video_id, resolution)
    return await object_response(
        request,
        videos.store,
        media.segment_key(video_id, rendition, segment),
        media_type=media.SEGMENT_TYPE,
        cache_control=SEGMENT_CACHE,
    )


async def _serving_rendition(videos: Videos, video_id: int, resolution: str) -> str:
    """The whitelist first (no database trip for garbage), then the fallback rule."""
    if not media.is_rendition(resolution):
        raise ApiError(404)
    video = await videos.playable(video_id)
    rendition = media.serving_rendition(resolution, video.renditions)
    if rendition is None:
        raise VideoNotFound
    return rendition


# ---------------------------------------------------------------------- public


@read_route(thumbnail_router, "/api/thumbnails/{video_id}/{filename}")
async def thumbnail(video_id: VideoId, filename: str, request: Request, videos: Videos) -> Response:
    """Public: `/api/thumbnails/<id>/<version>.jpg`, cacheable forever (a new thumbnail gets a
    new version, hence a new URL)."""
    version = filename.removesuffix(".jpg")
    if version == filename or not media.THUMBNAIL_VERSION.fullmatch(version):
        raise ApiError(404)
    key = await videos.thumbnail(video_id, version)
    return await object_response(
        request,
        videos.store,
        key,
        # the stored type when it is one of ours, else JPEG (what the transcoder makes)
        media_type=lambda stored: stored if stored in media.IMAGE_TYPES else "image/jpeg",
        cache_control=THUMBNAIL_CACHE,
        headers={"Cross-Origin-Resource-Policy": "cross-origin"},
    )
