"""tus 1.0 resumable uploads under `/api/admin/uploads/` (core, creation, termination,
expiration, checksum with md5/sha1/sha256): the headers in and out; the work is
`catalog.resumable`'s.

Every answer carries `Tus-Resumable: 1.0.0`, errors included (JSON `{"detail": ...}`); a
request without it (or with another version) gets 412 with `Tus-Version`, but for OPTIONS,
tus's discovery, which needs none and names the version, extensions, size limit and checksum
algorithms (admins only, like the rest). A finished upload
names its video in `Videoflix-Video-Id`. The headers are read by hand, not by FastAPI
parameters, so that each problem gets tus's status rather than a validation error; the
schema declares them in `openapi_extra`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from catalog.checksums import ALGORITHMS, ChecksumMismatch, parse_checksum
from catalog.resumable import ResumableUploads
from catalog.resumable_parts import UploadNotFound, UploadState
from common.errors import ApiError, refusal_error
from common.http import SlashOptionalRouter
from common.openapi import error_responses
from common.refusals import Invalid, Refusal, Unsupported
from common.security.principal import require_admin

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "termination", "expiration", "checksum")
OFFSET_TYPE = "application/offset+octet-stream"
VIDEO_ID_HEADER = "Videoflix-Video-Id"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_NUMBER = re.compile(r"[0-9]{1,19}")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class TusRoute(APIRoute):
    """Answers refusals itself, so that they carry `Tus-Resumable` like every answer."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except ChecksumMismatch as mismatch:  # tus's own status for it
                response = JSONResponse({"detail": mismatch.message}, status_code=460)
            except Refusal as refusal:
                response = _error(refusal_error(refusal))
            except ApiError as error:
                response = _error(error)
            response.headers["Tus-Resumable"] = TUS_VERSION
            return response

        return run


def _error(error: ApiError) -> Response:
    return JSONResponse(error.body, status_code=error.status_code, headers=error.headers)


async def get_resumable(request: Request) -> ResumableUploads:
    return request.app.state.resumable


async def require_tus(request: Request) -> None:
    if request.method == "OPTIONS":  # discovery: the one request tus sends without it
        return
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise ApiError(
            412,
            f"Send Tus-Resumable: {TUS_VERSION}; this server speaks no other version.",
            headers={"Tus-Version": TUS_VERSION},
        )


async def upload_id_from_path(upload_id: str) -> str:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise UploadNotFound
    return upload_id


Resumable = Annotated[ResumableUploads, Depends(get_resumable)]
UploadId = Annotated[str, Depends(upload_id_from_path)]

tus_router = SlashOptionalRouter(
    tags=["uploads"],
    dependencies=[Depends(require_admin), Depends(require_tus)],
    route_class=TusRoute,
)

# ---------------------------------------------------------------------- schema

_INT = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}


def _header(name: str, schema: dict[str, Any], description: str, required: bool = True) -> Any:
    return {"name": name, "in": "header", "required": required, "schema": schema,
            "description": description}  # fmt: skip


_TUS_HEADER = _header("Tus-Resumable", {"type": "string", "enum": [TUS_VERSION]}, "tus version")
_TUS_HEADER_ONLY = _header(
    "Tus-Resumable",
    {"type": "string", "description": f"`{TUS_VERSION}`, else 412"},
    "tus version",
    required=False,  # declared as the one thing that can refuse it (412, not a 400)
)
_OUT: dict[str, Any] = {
    "Tus-Resumable": {"schema": _TEXT, "description": TUS_VERSION},
    "Upload-Offset": {"schema": _INT, "description": "Bytes the server holds"},
    "Upload-Length": {"schema": _INT, "description": "Bytes of the whole upload"},
    "Upload-Expires": {"schema": _TEXT, "description": "When an unfinished upload expires"},
    "Upload-Metadata": {"schema": _TEXT, "description": "As sent at creation"},
    "Cache-Control": {"schema": _TEXT, "description": "no-store"},
    "Location": {"schema": _TEXT, "description": "The upload's path"},
    "Tus-Version": {"schema": _TEXT, "description": TUS_VERSION},
    "Tus-Extension": {"schema": _TEXT, "description": ",".join(EXTENSIONS)},
    "Tus-Max-Size": {"schema": _INT, "description": "The largest Upload-Length taken"},
    "Tus-Checksum-Algorithm": {"schema": _TEXT, "description": ",".join(ALGORITHMS)},
    VIDEO_ID_HEADER: {"schema": _INT, "description": "The video a finished upload became"},
}


def _answer(status: int, description: str, *headers: str) -> dict[int | str, Any]:
    return {status: {"description": description, "headers": {h: _OUT[h] for h in headers}}}


# ---------------------------------------------------------------------- routes


@tus_router.options(
    "/api/admin/uploads/",
    status_code=204,
    response_class=Response,
    responses=_answer(
        204,
        "What this server speaks",
        "Tus-Resumable",
        "Tus-Version",
        "Tus-Extension",
        "Tus-Max-Size",
        "Tus-Checksum-Algorithm",
    ),
)
async def discover(resumable: Resumable) -> Response:
    """tus discovery: the version, extensions, size limit and checksum algorithms."""
    headers = {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(resumable.config.max_upload_bytes),
        "Tus-Checksum-Algorithm": ",".join(ALGORITHMS),
    }
    return Response(status_code=204, headers=headers)


@tus_router.post(
    "/api/admin/uploads/",
    status_code=201,
    response_class=Response,
    responses={
        **_answer(201, "Created", "Location", "Upload-Expires", "Tus-Resumable"),
        **error_responses(400, 412, 413),
    },
    openapi_extra={
        "parameters": [
            _TUS_HEADER,
            _header("Upload-Length", {"type": "integer", "minimum": 1}, "Bytes of the file"),
            _header(
                "Upload-Metadata",
                _TEXT,
                "`key base64value` pairs, comma-separated: filename, filetype, title, "
                "description, category (checked like the upload form's fields)",
                required=False,
            ),
        ]
    },
)
async def create_upload(request: Request, resumable: Resumable) -> Response:
    """tus creation: a new upload of `Upload-Length` bytes; a video once all arrived."""
    length = _number(request, "upload-length", "Upload-Length")
    state = await resumable.create(length, request.headers.get("upload-metadata", ""))
    headers = {"Location": f"/api/admin/uploads/{state.id}", **_expiry(state)}
    return Response(status_code=201, headers=headers)


@tus_router.api_route(
    "/api/admin/uploads/{upload_id}",
    methods=["HEAD"],
    response_class=Response,
    responses={
        **_answer(
            200,
            "The upload's offset",
            "Upload-Offset",
            "Upload-Length",
            "Upload-Expires",
            "Upload-Metadata",
            "Cache-Control",
            VIDEO_ID_HEADER,
        ),
        **error_responses(404, 412),
    },
    openapi_extra={"parameters": [_TUS_HEADER_ONLY]},
)
async def upload_offset(upload_id: UploadId, resumable: Resumable) -> Response:
    state = await resumable.status(upload_id)
    headers = {
        "Upload-Offset": str(state.offset),
        "Upload-Length": str(state.length),
        "Cache-Control": "no-store",
        **_expiry(state),
    }
    if state.metadata:
        headers["Upload-Metadata"] = state.metadata
    return Response(status_code=200, headers=headers)


@tus_router.patch(
    "/api/admin/uploads/{upload_id}",
    status_code=204,
    response_class=Response,
    responses={
        **_answer(204, "Stored", "Upload-Offset", "Upload-Expires", VIDEO_ID_HEADER),
        **error_responses(400, 404, 409, 412, 415, 460),
    },
    openapi_extra={
        "parameters": [
            _TUS_HEADER,
            _header("Upload-Offset", _INT, "The upload's offset (HEAD tells it)"),
            _header(
                "Upload-Checksum",
                _TEXT,
                f"tus checksum extension: `<algorithm> <base64 digest>` of the body, "
                f"algorithm one of {', '.join(ALGORITHMS)}; the body is kept only if it matches",
                required=False,
            ),
        ],
        "requestBody": {
            "required": True,
            "content": {OFFSET_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
    },
)
async def append(upload_id: UploadId, request: Request, resumable: Resumable) -> Response:
    """The next bytes, from `Upload-Offset` on; a cut connection keeps what arrived."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != OFFSET_TYPE:
        raise Unsupported(f"Send the bytes as {OFFSET_TYPE}.")
    offset = _number(request, "upload-offset", "Upload-Offset")
    declared = request.headers.get("upload-checksum")
    checksum = parse_checksum(declared) if declared is not None else None
    try:
        state = await resumable.write(upload_id, offset, request.stream(), checksum)
    except ClientDisconnect:
        raise Invalid("The upload was interrupted; HEAD tells where to resume.") from None
    return Response(status_code=204, headers={"Upload-Offset": str(state.offset), **_expiry(state)})


@tus_router.delete(
    "/api/admin/uploads/{upload_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 409, 412),
    openapi_extra={"parameters": [_TUS_HEADER_ONLY]},
)
async def terminate(upload_id: UploadId, resumable: Resumable) -> Response:
    """tus termination: the upload and its stored bytes are removed."""
    await resumable.terminate(upload_id)
    return Response(status_code=204)


def _number(request: Request, name: str, label: str) -> int:
    raw = request.headers.get(name, "")
    if not _NUMBER.fullmatch(raw):
        raise Invalid(f"{label} must be a whole number of bytes.")
    return int(raw)


def _expiry(state: UploadState) -> dict[str, str]:
    if state.video_id is not None:
        return {VIDEO_ID_HEADER: str(state.video_id)}
    return {"Upload-Expires": format_datetime(state.expires_at, usegmt=True)}
