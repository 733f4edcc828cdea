"""What an object-store adapter must do, and what a key is.

Keys are '/'-separated relative paths that callers have already built safely (see
`common.media`); every adapter still refuses, with `check_key`, anything that could escape
its root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

DEFAULT_CONTENT_TYPE = "application/octet-stream"
"""Stored when a caller gives no content type."""
COMPOSE_MIN_PART = 5 * 1024 * 1024
"""`compose`: every source but the last holds at least this many bytes (S3's smallest part)."""
COMPOSE_MAX_SOURCES = 10_000
"""`compose`: at most this many sources (S3's most parts of one object)."""


def check_key(key: str) -> str:
    """Refuse keys that are empty, absolute, contain backslashes, NULs, empty, '.' or '..'
    segments (`ValueError`); returns the key unchanged."""
    if not isinstance(key, str) or not key:
        raise ValueError("object key must be a non-empty string")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid object key: {key!r}")
    for segment in key.split("/"):
        if segment in {"", ".", ".."}:
            raise ValueError(f"invalid object key: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Like `check_key`, but empty prefixes and a trailing '/' are fine."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


class ObjectNotFound(KeyError):
    """No object under that key."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    content_type: str


class ObjectStore(Protocol):
    async def start(self) -> None:
        """Make sure the bucket or directory exists."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the store answers (readiness)."""

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> ObjectInfo: ...

    async def put_file(self, key: str, path: Path, content_type: str) -> ObjectInfo: ...

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str, *, max_size: int | None
    ) -> ObjectInfo:
        """Store a stream of unknown length in constant memory (S3: multipart upload).

        Raises `ObjectTooLarge` (and stores nothing) once more than `max_size` bytes came.
        """

    async def compose(self, key: str, sources: Sequence[str], content_type: str) -> ObjectInfo:
        """Store the concatenation of the objects `sources`, in order, under `key`, and leave
        the sources as they are. The bytes do not pass through this process (S3: a multipart
        upload of server-side part copies; local: a copy between files in a worker thread).
        Every source but the last must hold `COMPOSE_MIN_PART` bytes or more, and there are
        1 to `COMPOSE_MAX_SOURCES` of them (`ValueError`); a missing source raises
        `ObjectNotFound`, and then nothing is stored."""

    async def get_bytes(self, key: str) -> bytes: ...

    async def download(self, key: str, path: Path) -> None: ...

    async def stat(self, key: str) -> ObjectInfo:
        """Raises `ObjectNotFound`."""

    def iter_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes `start..end` inclusive (HTTP Range semantics), streamed in chunks."""

    async def list_keys(self, prefix: str) -> list[str]: ...

    async def delete(self, key: str) -> None:
        """Deleting a missing key is not an error."""

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`; returns how many were deleted."""

    async def abort_stale_writes(self, older_than: timedelta) -> int:
        """Clear away what writers that died mid-write left behind (S3: incomplete multipart
        uploads; local: temporary files) and nobody touched for longer than `older_than`;
        returns how many. Never touches an object; a write still in progress is safe as long
        as it keeps writing more often than that. For start-up clean-ups."""


class ObjectTooLarge(ValueError):
    """A streamed upload exceeded its size limit."""
