"""A small tus 1.0 client (core, creation, termination) on the admin API's httpx client.

Why our own and not `tuspy`: tuspy brings requests, aiohttp and tinydb along and talks through
requests, so the Bearer login with its refresh on 401, the API's JSON error messages and the
timeouts would all be set up a second time beside httpx; and it reports progress per chunk
only. The part of the protocol the CLI needs fits in this module: create, HEAD for the offset,
PATCH the file in chunks (each streamed from disk in small pieces, so memory stays flat and
the progress bar moves smoothly), DELETE.
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from admincli.api import AdminApi
from admincli.errors import ApiError, CliError, NetworkError

TUS_VERSION = "1.0.0"
ENDPOINT = "/api/admin/uploads/"
CHUNK_SIZE = 16 * 1024 * 1024
"""Bytes per PATCH: what an interruption can cost at most (the server may keep less)."""
PIECE = 256 * 1024
VIDEO_ID_HEADER = "Videoflix-Video-Id"

Progress = Callable[[int], None]
"""Called with the number of bytes sent so far (the offset)."""


class UploadGone(CliError):
    """The server no longer knows the upload (expired or removed): start a new one."""


class Interrupted(CliError):
    """The upload broke off; what the server holds stays there for a rerun."""


def encode_metadata(metadata: dict[str, str]) -> str:
    """`Upload-Metadata`: `key base64(value)` pairs, comma-separated; empty values left out."""
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in metadata.items()
        if value
    )


@dataclass(frozen=True)
class State:
    offset: int
    length: int | None
    video_id: int | None


def _video_id(headers: object) -> int | None:
    value = getattr(headers, "get", lambda _: None)(VIDEO_ID_HEADER)
    return int(value) if value and str(value).isdigit() else None


def _offset(response: httpx.Response) -> int:
    value = response.headers.get("upload-offset", "")
    if not value.isdigit():
        raise CliError(f"{response.request.url} answered without a valid Upload-Offset.")
    return int(value)


def _read(path: Path, start: int, end: int, on_progress: Progress) -> Iterator[bytes]:
    with path.open("rb") as source:
        source.seek(start)
        position = start
        while position < end:
            piece = source.read(min(PIECE, end - position))
            if not piece:
                raise CliError(f"{path} got shorter while it was being uploaded.")
            position += len(piece)
            yield piece
            on_progress(position)


class TusClient:
    def __init__(self, api: AdminApi, endpoint: str = ENDPOINT) -> None:
        self.api = api
        self.endpoint = endpoint
        self.headers = {"Tus-Resumable": TUS_VERSION}

    def create(self, length: int, metadata: dict[str, str]) -> str:
        """A new upload of `length` bytes; its absolute URL."""
        headers = {**self.headers, "Upload-Length": str(length)}
        if encoded := encode_metadata(metadata):
            headers["Upload-Metadata"] = encoded
        response = self.api.request("POST", self.endpoint, headers=headers)
        location = response.headers.get("location")
        if not location:
            raise CliError(f"{self.api.url} created the upload without saying where (Location).")
        return urljoin(f"{self.api.url}{self.endpoint}", str(location))

    def state(self, url: str) -> State:
        response = self.api.request("HEAD", url, headers=self.headers, allow=(404, 410))
        if response.status_code in (404, 410):
            raise UploadGone(f"The server no longer has the upload {url}.")
        length = response.headers.get("upload-length")
        return State(
            offset=_offset(response),
            length=int(length) if length else None,
            video_id=_video_id(response.headers),
        )

    def delete(self, url: str) -> None:
        self.api.request("DELETE", url, headers=self.headers, allow=(404, 410))

    def send(
        self,
        url: str,
        path: Path,
        offset: int,
        length: int,
        *,
        on_progress: Progress = lambda _: None,
        chunk_size: int = CHUNK_SIZE,
        retries: int = 3,
        retry_delay: float = 1.0,
    ) -> int:
        """PATCH the bytes from `offset` to the end; the id of the video the upload became.
        A broken connection, a 5xx or an offset the server disputes (409, 423: another PATCH
        still running) asks the server for its offset and goes on from there, up to `retries`
        times in a row, waiting longer each time."""
        failures = 0
        video_id: int | None = None
        while offset < length or video_id is None:
            if offset >= length:  # complete, but the id came with no PATCH of ours
                state = self.state(url)
                if state.video_id is None or state.offset < length:
                    raise CliError(f"The upload {url} is complete but the server names no video.")
                return state.video_id
            end = min(offset + chunk_size, length)
            start = offset
            try:
                response = self.api.request(
                    "PATCH",
                    url,
                    content=functools.partial(_read, path, start, end, on_progress),
                    headers={
                        **self.headers,
                        "Content-Type": "application/offset+octet-stream",
                        "Content-Length": str(end - start),
                        "Upload-Offset": str(start),
                    },
                    allow=(404, 409, 410, 423),
                )
            except (NetworkError, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.status < 500:
                    raise
                reason = str(exc)
            else:
                if response.status_code in (404, 410):
                    raise UploadGone(f"The server no longer has the upload {url}.")
                if response.status_code < 300:
                    failures = 0
                    offset = _offset(response)
                    video_id = _video_id(response.headers)
                    on_progress(offset)
                    continue
                reason = f"the server refused offset {start} (HTTP {response.status_code})"
            failures += 1
            if failures > retries:
                raise Interrupted(
                    f"The upload of {path.name} broke off ({reason}). "
                    "Run the same command again to resume it."
                )
            time.sleep(retry_delay * 2 ** (failures - 1))
            try:
                offset = self.state(url).offset
            except NetworkError:
                continue  # still unreachable: counts at the next PATCH
            on_progress(offset)
        return video_id
