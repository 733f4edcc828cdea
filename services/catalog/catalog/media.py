"""Object keys of a video's media, and the checks that keep untrusted input out of them.

Layout (DESIGN.md): `sources/<id>/<name>`, `hls/<id>/master.m3u8`,
`hls/<id>/<rendition>/index.m3u8` and `segment_NNNNN.ts`, and the thumbnail under
`thumbnails/<id>.<...>`. Every key is built here from an integer id, a whitelisted rendition,
a segment name matching a strict pattern or a name this module sanitised; nothing a client
sends reaches a key unchecked.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass

RENDITIONS: tuple[str, ...] = ("480p", "720p", "1080p")
"""The HLS ladder, lowest first; exactly these names are valid in a URL."""
_HEIGHTS = {name: int(name[:-1]) for name in RENDITIONS}

SEGMENT_NAME = re.compile(r"segment_\d{5}\.ts")
THUMBNAIL_VERSION = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_VIDEO_ID = 2**31 - 1
"""Ids are 32-bit on PostgreSQL; anything larger cannot exist and is answered 404."""
_VIDEO_ID = re.compile(r"[1-9][0-9]{0,9}")

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/MP2T"


def parse_video_id(raw: str) -> int | None:
    """A path segment as a video id: plain decimal digits, no sign, no leading zero."""
    if not _VIDEO_ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= MAX_VIDEO_ID else None


def new_thumbnail_version() -> str:
    return secrets.token_urlsafe(16)


# ---------------------------------------------------------------------- renditions


def is_rendition(name: str) -> bool:
    return name in _HEIGHTS


def sorted_renditions(names: list[str]) -> list[str]:
    """The known rendition names among `names`, lowest first, without duplicates."""
    return [r for r in RENDITIONS if r in set(names)]


def serving_rendition(requested: str, available: list[str]) -> str | None:
    """The rendition that answers a request for `requested`.

    The one asked for when it exists; otherwise the highest one not above it (a resolution
    above the source gets the highest rendition, CONTRACT.md); otherwise the lowest there is.
    """
    have = sorted_renditions(available)
    if not have or requested not in _HEIGHTS:
        return None
    if requested in have:
        return requested
    below = [r for r in have if _HEIGHTS[r] <= _HEIGHTS[requested]]
    return below[-1] if below else have[0]


# ---------------------------------------------------------------------- keys


def source_prefix(video_id: int) -> str:
    return f"sources/{video_id}/"


def source_key(video_id: int, filename: str | None) -> str:
    return f"{source_prefix(video_id)}{sanitize_filename(filename)}"


def hls_prefix(video_id: int) -> str:
    return f"hls/{video_id}/"


def master_key(video_id: int) -> str:
    return f"hls/{video_id}/master.m3u8"


def playlist_key(video_id: int, rendition: str) -> str:
    assert is_rendition(rendition)
    return f"hls/{video_id}/{rendition}/index.m3u8"


def segment_key(video_id: int, rendition: str, segment: str) -> str:
    assert is_rendition(rendition) and SEGMENT_NAME.fullmatch(segment)
    return f"hls/{video_id}/{rendition}/{segment}"


def thumbnail_prefixes(video_id: int) -> tuple[str, str]:
    """Every thumbnail object of a video lives under one of these: ours are
    `thumbnails/<id>.<version>.<ext>`, the transcoder's `thumbnails/<id>.jpg`."""
    return f"thumbnails/{video_id}.", f"thumbnails/{video_id}/"


def custom_thumbnail_key(video_id: int, version: str, extension: str) -> str:
    """Named by its version, so a replacement never overwrites an object being served and
    the transcoder's generated `thumbnails/<id>.jpg` can never clobber it."""
    return f"thumbnails/{video_id}.{version}.{extension}"


_FOREIGN_THUMBNAIL = re.compile(r"thumbnails/(\d+)[./][A-Za-z0-9_.-]{1,200}")


def is_thumbnail_key_of(video_id: int, key: str | None) -> bool:
    """Whether the transcoder's `thumbnail_key` is a plausible key of this video's thumbnail
    (it is later served and deleted, so it must stay under the video's own prefixes)."""
    if not key:
        return False
    found = _FOREIGN_THUMBNAIL.fullmatch(key)
    return (
        found is not None
        and int(found.group(1)) == video_id
        and ".." not in key
        and "/." not in key
        and not key.endswith("/")
    )


# ---------------------------------------------------------------------- names and bytes

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME_LENGTH = 120


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


@dataclass(frozen=True)
class ImageKind:
    content_type: str
    extension: str


JPEG = ImageKind("image/jpeg", "jpg")
PNG = ImageKind("image/png", "png")
WEBP = ImageKind("image/webp", "webp")
IMAGE_TYPES = frozenset(k.content_type for k in (JPEG, PNG, WEBP))


def sniff_image(head: bytes) -> ImageKind | None:
    """JPEG, PNG or WebP by their magic bytes; whatever the client claimed does not count."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None
