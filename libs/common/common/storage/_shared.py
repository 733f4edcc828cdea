"""What both object-store adapters do the same way: the size limit of a streamed upload,
closing the caller's stream, downloading through a temporary file, checking a range."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

from common.storage.port import COMPOSE_MAX_SOURCES, COMPOSE_MIN_PART, ObjectTooLarge

CHUNK_SIZE = 256 * 1024
"""Read size for ranges, copies and downloads."""


class LimitedStream:
    """The caller's chunks for `put_stream`, counted as they pass: raises `ObjectTooLarge` on
    the chunk that goes past `max_size`. `aclose()` closes the caller's stream (quietly), so
    one stopped early still releases what it holds; use it with `contextlib.aclosing`."""

    def __init__(self, key: str, chunks: AsyncIterator[bytes], max_size: int | None) -> None:
        self.key = key
        self.max_size = max_size
        self.size = 0
        self._source = chunks
        self._chunks = aiter(chunks)

    def __aiter__(self) -> LimitedStream:
        return self

    async def __anext__(self) -> bytes:
        chunk = await anext(self._chunks)
        self.size += len(chunk)
        if self.max_size is not None and self.size > self.max_size:
            raise ObjectTooLarge(f"{self.key}: more than {self.max_size} bytes")
        return chunk

    async def aclose(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


def download_to(dest: Path, write: Callable[[BinaryIO], None]) -> None:
    """Blocking: `write` the object into a temporary file beside `dest`, then move it into
    place, so `dest` is either complete or untouched."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
    try:
        with open(tmp, "wb") as out:
            write(out)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def check_range(start: int, end: int | None) -> None:
    """`iter_range`'s bounds: `ValueError` unless 0 <= start and (end is None or start <= end)."""
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid range {start}-{end}")


def check_compose(sources: list[str], sizes: list[int] | None = None) -> None:
    """`compose`'s rules (`ValueError`): 1 to COMPOSE_MAX_SOURCES sources and, when `sizes`
    are known, none but the last below COMPOSE_MIN_PART bytes. Both adapters refuse alike,
    so a caller tested on the local store does not first fail on S3."""
    if not 1 <= len(sources) <= COMPOSE_MAX_SOURCES:
        raise ValueError(f"compose takes 1 to {COMPOSE_MAX_SOURCES} sources, not {len(sources)}")
    for key, size in zip(sources[:-1], sizes or [], strict=False):
        if size < COMPOSE_MIN_PART:
            raise ValueError(f"compose: {key} holds {size} bytes, fewer than {COMPOSE_MIN_PART}")
