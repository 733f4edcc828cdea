"""The catalog's side of the media contract: checks that keep untrusted input out of keys.

The layout, names and types shared with the transcoder live in `common.media`; they are
re-exported here, so catalog code reads both through one `media` name. What is the catalog's
own: video ids from URLs, thumbnail versions, the browser's file name as a key segment, which
rendition answers a request, and recognising an uploaded image by its bytes. Every key is
built from an integer id, a whitelisted rendition, a segment name matching a strict pattern
or a name this module sanitised; nothing a client sends reaches a key unchecked.
"""

from __future__ import annotations

import re
import secrets
import unicodedata

from common import media as _contract
from common.media import (
    IMAGE_TYPES,
    JPEG,
    PLAYLIST_TYPE,
    PNG,
    RENDITION_LINES,
    RENDITIONS,
    SEGMENT_NAME,
    SEGMENT_TYPE,
    WEBP,
    ImageKind,
    custom_thumbnail_key,
    hls_prefix,
    is_rendition,
    is_thumbnail_key_of,
    master_key,
    playlist_key,
    segment_key,
    source_prefix,
    thumbnail_prefixes,
)

__all__ = [
    "IMAGE_TYPES",
    "JPEG",
    "MAX_VIDEO_ID",
    "PLAYLIST_TYPE",
    "PNG",
    "RENDITIONS",
    "SEGMENT_NAME",
    "SEGMENT_TYPE",
    "THUMBNAIL_VERSION",
    "WEBP",
    "ImageKind",
    "custom_thumbnail_key",
    "hls_prefix",
    "is_rendition",
    "is_thumbnail_key_of",
    "master_key",
    "new_thumbnail_version",
    "parse_video_id",
    "playlist_key",
    "sanitize_filename",
    "segment_key",
    "serving_rendition",
    "sniff_image",
    "sorted_renditions",
    "source_key",
    "source_prefix",
    "thumbnail_prefixes",
]

THUMBNAIL_VERSION = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_VIDEO_ID = 2**31 - 1
"""Ids are 32-bit on PostgreSQL; anything larger cannot exist and is answered 404."""
_VIDEO_ID = re.compile(r"[1-9][0-9]{0,9}")


def parse_video_id(raw: str) -> int | None:
    """A path segment as a video id: plain decimal digits, no sign, no leading zero."""
    if not _VIDEO_ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= MAX_VIDEO_ID else None


def new_thumbnail_version() -> str:
    """A fresh version for `custom_thumbnail_key`; matches `THUMBNAIL_VERSION`."""
    return secrets.token_urlsafe(16)


# ---------------------------------------------------------------------- renditions


def sorted_renditions(names: list[str]) -> list[str]:
    """The known rendition names among `names`, lowest first, without duplicates."""
    return [r for r in RENDITIONS if r in set(names)]


def serving_rendition(requested: str, available: list[str]) -> str | None:
    """The rendition that answers a request for `requested`.

    The one asked for when it exists; otherwise the highest one not above it (a resolution
    above the source gets the highest rendition, CONTRACT.md); otherwise the lowest there is.
    """
    have = sorted_renditions(available)
    if not have or not is_rendition(requested):
        return None
    if requested in have:
        return requested
    lines = RENDITION_LINES
    below = [r for r in have if lines[r] <= lines[requested]]
    return below[-1] if below else have[0]


# ---------------------------------------------------------------------- names and bytes

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME_LENGTH = 120


def source_key(video_id: int, filename: str | None) -> str:
    """The source's key, named after the browser's file name (sanitised)."""
    return _contract.source_key(video_id, sanitize_filename(filename))


def sanitize_filename(filename: str | None) -> str:
    """A safe last key segment from the browser's file name: ASCII letters, digits, `._-`,
    no leading dot (so never `.`, `..` or a reserved `.vf-` name), at most 120 characters,
    keeping the extension (the transcoder's probe does not need it, people reading keys do).
    """
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = _UNSAFE_NAME_CHARS.sub("", ext)[:16]
    stem = _UNSAFE_NAME_CHARS.sub("_", stem).strip("._-")
    stem = stem[: MAX_NAME_LENGTH - len(ext) - 1].rstrip("._-") or "source"
    return f"{stem}.{ext}" if ext else stem


def sniff_image(head: bytes) -> ImageKind | None:
    """JPEG, PNG or WebP by their magic bytes; whatever the client claimed does not count."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None
