"""Serving stored objects over HTTP: byte ranges, ETags, HEAD, streamed bodies.

Only single ranges are served (`bytes=a-b`, `a-`, `-n`): that is what players ask for. A
Range header this module does not understand, or one asking for several ranges, is ignored
and the whole object is sent, as RFC 9110 allows; a range that starts past the end is 416.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import BinaryIO

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from common.errors import ApiError
from common.storage import ObjectInfo, ObjectNotFound, ObjectStore
from common.storage.local import LocalObjectStore, OpenObject

_NUMBER = re.compile(r"[0-9]{1,19}")
RANGE_NOT_SATISFIABLE = "The requested range is not satisfiable."
FILE_CHUNK = 1024 * 1024
"""Bytes read from a local file per read (and sent as one body chunk) when it is streamed."""
WHOLE_READ_MAX = 4 * 1024 * 1024
"""Up to this many bytes are read at once and sent as one plain body (a whole HLS segment:
about 1 MB at 720p, 2-3 MB at 1080p); a streamed body costs a task and a read per chunk."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range to send, None for the whole object; raises `RangeNotSatisfiable`."""
    if not header:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = (s.strip() for s in spec.partition("-"))
    if not dash:
        return None
    if not first:  # suffix: the last n bytes
        if not _NUMBER.fullmatch(last):
            return None
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(0, size - length), size - 1)
    if not _NUMBER.fullmatch(first) or (last and not _NUMBER.fullmatch(last)):
        return None
    start = int(first)
    if last and int(last) < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        raise RangeNotSatisfiable
    return ByteRange(start, min(int(last), size - 1) if last else size - 1)


def etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison: `W/` prefixes do not matter."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def quoted_etag(raw: str) -> str | None:
    raw = raw.strip().strip('"')
    return f'"{raw}"' if raw and '"' not in raw and raw.isascii() else None


async def object_response(
    request: Request,
    store: ObjectStore,
    key: str,
    *,
    media_type: str | Callable[[str], str],
    cache_control: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """The object under `key` (already validated), honouring Range, If-Range, If-None-Match
    and HEAD; 404 JSON when it is missing. The body is streamed; only a local file's range of
    up to `WHOLE_READ_MAX` bytes is read whole.

    `media_type` may be a function of the stored content type. A local store's file is
    opened once and read with `read_at` (a segment in one read, from the page cache without
    a thread when it is there); any other store streams `iter_range`."""
    opened: OpenObject | None = None
    try:
        if isinstance(store, LocalObjectStore):
            opened = await store.open_object(key)
            info = opened.info
        else:
            info = await store.stat(key)
    except ObjectNotFound:
        raise ApiError(404) from None
    try:
        if callable(media_type):
            media_type = media_type(info.content_type)
        plan = _plan(request, info, cache_control, headers)
        if isinstance(plan, Response):
            return plan
        status, start, end, common = plan
        length = end - start + 1
        if request.method == "HEAD" or length <= 0:
            return Response(status_code=status, headers=common, media_type=media_type)
        if opened is not None:
            file, opened = opened.file, None  # the body below owns it now
            return await _file_response(file, start, length, status, common, media_type)
    finally:
        if opened is not None:
            opened.file.close()

    chunks = store.iter_range(key, start, end)
    try:
        # opened before the answer starts, so a vanished object is still a clean 404
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except ObjectNotFound:
        raise ApiError(404) from None
    return StreamingResponse(
        _body(first, chunks), status_code=status, headers=common, media_type=media_type
    )


def _plan(
    request: Request, info: ObjectInfo, cache_control: str, headers: dict[str, str] | None
) -> Response | tuple[int, int, int, dict[str, str]]:
    """A 304, or the status, the inclusive byte range and the headers of the answer;
    raises the 416."""
    common = {
        "Accept-Ranges": "bytes",
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
        **(headers or {}),
    }
    etag = quoted_etag(info.etag)
    if etag:
        common["ETag"] = etag
    if etag and etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=common)

    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if range_header and if_range is not None and (etag is None or if_range.strip() != etag):
        range_header = None  # the client's copy is outdated: send it all
    try:
        wanted = parse_range(range_header, info.size)
    except RangeNotSatisfiable:
        raise ApiError(
            416,
            RANGE_NOT_SATISFIABLE,
            headers={**common, "Content-Range": f"bytes */{info.size}"},
        ) from None

    status = 200
    start, end = 0, info.size - 1
    if wanted is not None:
        status, start, end = 206, wanted.start, wanted.end
        common["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    common["Content-Length"] = str(max(0, end - start + 1))
    return status, start, end, common


async def _file_response(
    file: BinaryIO,
    start: int,
    length: int,
    status: int,
    headers: dict[str, str],
    media_type: str,
) -> Response:
    """`length` bytes of `file` from `start`; closes the file. Up to `WHOLE_READ_MAX` bytes
    are read at once and sent as one body, more are streamed in chunks of `FILE_CHUNK`."""
    if length > WHOLE_READ_MAX:
        return StreamingResponse(
            _file_body(file, start, length),
            status_code=status,
            headers=headers,
            media_type=media_type,
        )
    try:
        data = await read_at(file.fileno(), length, start)
    finally:
        file.close()
    return Response(data, status_code=status, headers=headers, media_type=media_type)


async def read_at(fd: int, length: int, offset: int) -> bytes | memoryview:
    """Up to `length` bytes at `offset`, like `os.pread`, without blocking the event loop.

    Bytes already in the page cache (a segment being watched is) are copied on the loop with
    `RWF_NOWAIT`, which refuses instead of waiting for the disk, straight into the buffer that
    is sent; only the rest is read in a worker thread. A thread hop per request was a third of
    the all-in-one's CPU per segment, a second copy of the bytes a seventh (docs/benchmarks.md)."""
    head = _read_cached(fd, length, offset)
    if len(head) == length:
        return head
    rest = await asyncio.to_thread(os.pread, fd, length - len(head), offset + len(head))
    return bytes(head) + rest


_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)  # Linux 4.14+


def _read_cached(fd: int, length: int, offset: int) -> memoryview:
    """The leading bytes of the range that the page cache holds (maybe none)."""
    if _NOWAIT is None or length <= 0:
        return memoryview(b"")
    buffer = bytearray(length)
    try:
        read = os.preadv(fd, [buffer], offset, _NOWAIT)
    except OSError:  # EAGAIN: not cached; EOPNOTSUPP: a file system without it
        return memoryview(b"")
    return memoryview(buffer)[:read]


async def _file_body(file: BinaryIO, start: int, length: int) -> AsyncIterator[bytes | memoryview]:
    try:
        fd, offset, end = file.fileno(), start, start + length
        while offset < end:
            chunk = await read_at(fd, min(FILE_CHUNK, end - offset), offset)
            if not chunk:
                break
            offset += len(chunk)
            yield chunk
    finally:
        file.close()


async def _body(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
