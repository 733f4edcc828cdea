"""The video, admin and thumbnail endpoints of CONTRACT.md: parse, call the service, answer.

A refusal, of a use case or of a route's own checks (`common.refusals`), is answered by the
shared handler of `common.errors`. The gateway authenticates callers and forwards who they
are in trusted headers; `require_user` / `require_admin` read them. Thumbnails are public on
purpose: they load in an `<img>` without credentials, and the random version in their URL
makes them unguessable.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, Request, Response
from starlette.requests import ClientDisconnect

from catalog import forms, media
from catalog.config import CatalogSettings
from catalog.delivery import etag_matches, object_response
from catalog.dependencies import CatalogConfig, VideoId, Videos, VideoUploads
from catalog.formstream import FormStream, MalformedForm, NotMultipart
from catalog.refusals import MalformedBody, UploadTooLarge
from catalog.schemas import CATEGORY_MAX, DESCRIPTION_MAX, TITLE_MAX, AdminVideo, PublicVideo
from common.http import SlashOptionalRouter, head_too
from common.httpmetrics import segment_sent
from common.openapi import error_responses
from common.refusals import Invalid, NotFound, TooLarge, Unsupported
from common.security.principal import require_admin, require_user

FORM_OVERHEAD = 1024 * 1024
"""Room for the text fields, part headers and boundaries on top of file and thumbnail."""
MAX_JSON_BODY = 64 * 1024
PLAYLIST_CACHE = "private, no-cache"
THUMBNAIL_TYPES = tuple(sorted(media.IMAGE_TYPES))
SEGMENT_CACHE = "private, max-age=31536000, immutable"
THUMBNAIL_CACHE = "public, max-age=31536000, immutable"
LIST_CACHE = "private, no-cache"
_NOT_FOUND = error_responses(404)
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "The ETag matched"}}

# The admin routes read their bodies themselves (streamed), so their schema is declared here.
_PLAIN = {"type": "string", "pattern": "^[^<>]*$"}
_ONE_LINE = "Plain text on one line, no control characters; surrounding blanks are dropped."
_TEXT_FIELDS: dict[str, dict[str, Any]] = {
    "title": {**_PLAIN, "minLength": 1, "maxLength": TITLE_MAX, "description": _ONE_LINE},
    "description": {**_PLAIN, "maxLength": DESCRIPTION_MAX},
    "category": {
        **_PLAIN,
        "minLength": 1,
        "maxLength": CATEGORY_MAX,
        "description": f"{_ONE_LINE} No quotes; not `newest`.",
    },
}
_THUMBNAIL = {"type": "string", "format": "binary", "description": "A JPEG, PNG or WebP image"}
_UPLOAD_FORM = {
    "type": "object",
    "required": ["file", "title", "category"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The video"},
        **_TEXT_FIELDS,
        "thumbnail": _THUMBNAIL,
    },
}
_PATCH_JSON = {
    "type": "object",
    "description": "Only the fields sent change; a null counts as not sent.",
    "properties": {k: {"anyOf": [v, {"type": "null"}]} for k, v in _TEXT_FIELDS.items()},
}
_PATCH_FORM = {"type": "object", "properties": {**_TEXT_FIELDS, "thumbnail": _THUMBNAIL}}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": _UPLOAD_FORM}},
    }
}
PATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _PATCH_JSON},
            "multipart/form-data": {"schema": _PATCH_FORM},
        },
    }
}


# full paths, no router prefix: a prefixed "/" route would lose its slash-less twin
admin_router = SlashOptionalRouter(tags=["admin"], dependencies=[Depends(require_admin)])
video_router = SlashOptionalRouter(tags=["video"], dependencies=[Depends(require_user)])
thumbnail_router = SlashOptionalRouter(tags=["thumbnails"])


def read_route(
    router: SlashOptionalRouter, path: str, media_types: tuple[str, ...]
) -> Callable[[Any], Any]:
    """GET and HEAD of a stored object (`catalog.delivery.object_response`)."""
    content = {t: {"schema": {"type": "string", "format": "binary"}} for t in media_types}
    responses: dict[int | str, dict[str, Any]] = {
        200: {"content": content},
        206: {"description": "The requested byte range", "content": content},
        **_NOT_MODIFIED,
        **error_responses(404, 416),
    }

    def decorator(func: Any) -> Any:
        router.api_route(path, methods=["GET"], response_class=Response, responses=responses)(func)
        return head_too(router, path)(func)

    return decorator


# ---------------------------------------------------------------------- admin


def max_form_bytes(config: CatalogSettings) -> int:
    return config.max_upload_bytes + config.max_thumbnail_bytes + FORM_OVERHEAD


@admin_router.post(
    "/api/admin/videos/",
    status_code=201,
    response_model=AdminVideo,
    responses=error_responses(400, 413, 415),
    openapi_extra=UPLOAD_BODY,
)
async def upload_video(
    request: Request, uploads: VideoUploads, config: CatalogConfig
) -> AdminVideo:
    """Multipart `file`, `title`, `description`, `category`, optional `thumbnail`; streamed
    into object storage as it arrives."""
    limit = max_form_bytes(config)
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(config.max_upload_bytes)  # before reading any of it
    form = _open_form(request, limit)
    try:
        return await uploads.create(form)
    except ClientDisconnect:
        raise Invalid("The upload was interrupted.") from None


@admin_router.get("/api/admin/videos/", response_model=list[AdminVideo])
@head_too(admin_router, "/api/admin/videos/")
async def list_videos(videos: Videos) -> list[AdminVideo]:
    return await videos.list_admin()


@admin_router.get("/api/admin/videos/{video_id}/", response_model=AdminVideo, responses=_NOT_FOUND)
@head_too(admin_router, "/api/admin/videos/{video_id}/")
async def get_video(video_id: VideoId, videos: Videos) -> AdminVideo:
    return await videos.get_admin(video_id)


@admin_router.patch(
    "/api/admin/videos/{video_id}/",
    response_model=AdminVideo,
    responses=error_responses(400, 404, 413, 415),
    openapi_extra=PATCH_BODY,
)
async def edit_video(
    video_id: VideoId, request: Request, videos: Videos, config: CatalogConfig
) -> AdminVideo:
    """JSON with any of title, description, category; or multipart with those and/or a new
    `thumbnail`."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        await videos.visible(video_id)  # 404 before reading an image for nothing
        limit = config.max_thumbnail_bytes
        form = _open_form(request, limit + FORM_OVERHEAD)
        try:
            patch = await forms.read_patch_form(form, limit)
        except ClientDisconnect:
            raise Invalid("The request was interrupted.") from None
        return await videos.update(video_id, patch.changes, patch.thumbnail)
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise Unsupported("Send JSON or multipart/form-data.")
    changes = forms.patch_from_json(await _read_small(request, MAX_JSON_BODY))
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
        raise Unsupported("Send the video as multipart/form-data.") from None
    except MalformedForm:
        raise MalformedBody from None


async def _limited(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, refused with 413 once it grows past `limit` (a
    Content-Length can be absent, or lie)."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise TooLarge
        yield chunk


async def _read_small(request: Request, limit: int) -> bytes:
    body = bytearray()
    try:
        async for chunk in _limited(request, limit):
            body += chunk
    except ClientDisconnect:
        raise Invalid("The request was interrupted.") from None
    return bytes(body)


# ---------------------------------------------------------------------- users


@video_router.get("/api/video/", response_model=list[PublicVideo], responses=_NOT_MODIFIED)
@head_too(video_router, "/api/video/")
async def video_list(request: Request, videos: Videos) -> Response:
    """Ready videos, newest first; a strong ETag over the exact bytes, 304 when unchanged."""
    body = await videos.public_list_json()
    etag = f'"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": LIST_CACHE}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@read_route(video_router, "/api/video/{video_id}/master.m3u8", (media.PLAYLIST_TYPE,))
async def master_playlist(video_id: VideoId, request: Request, videos: Videos) -> Response:
    await videos.playable(video_id)
    return await object_response(
        request,
        videos.store,
        media.master_key(video_id),
        media_type=media.PLAYLIST_TYPE,
        cache_control=PLAYLIST_CACHE,
    )


@read_route(video_router, "/api/video/{video_id}/{resolution}/index.m3u8", (media.PLAYLIST_TYPE,))
async def rendition_playlist(
    video_id: VideoId, resolution: str, request: Request, videos: Videos
) -> Response:
    rendition = await videos.serving_rendition(video_id, resolution)
    return await object_response(
        request,
        videos.store,
        media.playlist_key(video_id, rendition),
        media_type=media.PLAYLIST_TYPE,
        cache_control=PLAYLIST_CACHE,
    )


@read_route(video_router, "/api/video/{video_id}/{resolution}/{segment}/", (media.SEGMENT_TYPE,))
async def rendition_segment(
    video_id: VideoId, resolution: str, segment: str, request: Request, videos: Videos
) -> Response:
    if not media.SEGMENT_NAME.fullmatch(segment):
        raise NotFound
    rendition = await videos.serving_rendition(video_id, resolution)
    response = await object_response(
        request,
        videos.store,
        media.segment_key(video_id, rendition, segment),
        media_type=media.SEGMENT_TYPE,
        cache_control=SEGMENT_CACHE,
    )
    return segment_sent(response)


# ---------------------------------------------------------------------- public


@read_route(thumbnail_router, "/api/thumbnails/{video_id}/{filename}", THUMBNAIL_TYPES)
async def thumbnail(video_id: VideoId, filename: str, request: Request, videos: Videos) -> Response:
    """Public: `/api/thumbnails/<id>/<version>.jpg`, cacheable forever (a new thumbnail gets a
    new version, hence a new URL)."""
    version = filename.removesuffix(".jpg")
    if version == filename or not media.THUMBNAIL_VERSION.fullmatch(version):
        raise NotFound
    key = await videos.thumbnail_key(video_id, version)
    return await object_response(
        request,
        videos.store,
        key,
        # the stored type when it is one of ours, else JPEG (what the transcoder makes)
        media_type=lambda stored: stored if stored in media.IMAGE_TYPES else "image/jpeg",
        cache_control=THUMBNAIL_CACHE,
        headers={"Cross-Origin-Resource-Policy": "cross-origin"},
    )
