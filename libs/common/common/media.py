"""The media contract between the catalog and the transcoder: where a video's objects live,
what they are named and what type they are stored with.

The catalog stores the source and reads the HLS files; the transcoder reads the source and
writes the HLS files and the generated thumbnail. Both build every key from here, so the two
can never disagree (DESIGN.md, "Media layout in the object store"):

    sources/<id>/<name>                       the uploaded source (name: one safe key segment)
    hls/<id>/master.m3u8                      the master playlist
    hls/<id>/<rendition>/index.m3u8           a rendition's media playlist
    hls/<id>/<rendition>/segment_NNNNN.ts     its MPEG-TS segments
    thumbnails/<id>.jpg                       the thumbnail the transcoder generates
    thumbnails/<id>.<version>.<ext>           a thumbnail an admin uploaded (never overwritten)

Standard library only: every service can import it, whatever adapters it wires.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

# ---------------------------------------------------------------------- renditions

RENDITION_LINES: Mapping[str, int] = MappingProxyType({"480p": 480, "720p": 720, "1080p": 1080})
"""The HLS ladder, lowest first: rendition name -> the short side (in lines) it promises."""
RENDITIONS: tuple[str, ...] = tuple(RENDITION_LINES)
"""The rendition names, lowest first; exactly these are valid in a key or a URL."""


def is_rendition(name: str) -> bool:
    return name in RENDITION_LINES


# ---------------------------------------------------------------------- file names

MASTER_NAME = "master.m3u8"
PLAYLIST_NAME = "index.m3u8"
"""Every rendition's media playlist, in the rendition's own directory."""
SEGMENT_PATTERN = "segment_%05d.ts"
"""FFmpeg's output pattern for segment files; `SEGMENT_NAME` matches what it writes."""
SEGMENT_NAME = re.compile(r"segment_\d{5}\.ts")
"""A segment's file name; use `fullmatch`."""


def variant_uri(rendition: str) -> str:
    """A rendition's playlist as the master playlist refers to it (relative to the master)."""
    assert is_rendition(rendition)
    return f"{rendition}/{PLAYLIST_NAME}"


# ---------------------------------------------------------------------- content types

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/MP2T"
JPEG_TYPE = "image/jpeg"


@dataclass(frozen=True)
class ImageKind:
    """A thumbnail image type: its content type and the extension its key ends with."""

    content_type: str
    extension: str


JPEG = ImageKind(JPEG_TYPE, "jpg")
PNG = ImageKind("image/png", "png")
WEBP = ImageKind("image/webp", "webp")
IMAGE_TYPES = frozenset(k.content_type for k in (JPEG, PNG, WEBP))
"""The content types a thumbnail may be stored with."""

# ---------------------------------------------------------------------- keys


def source_prefix(video_id: int) -> str:
    return f"sources/{video_id}/"


def source_key(video_id: int, name: str) -> str:
    """`name` must already be one safe key segment (the catalog sanitises the browser's)."""
    return f"{source_prefix(video_id)}{name}"


def hls_prefix(video_id: int) -> str:
    return f"hls/{video_id}/"


def master_key(video_id: int) -> str:
    return f"{hls_prefix(video_id)}{MASTER_NAME}"


def playlist_key(video_id: int, rendition: str) -> str:
    return f"{hls_prefix(video_id)}{variant_uri(rendition)}"


def segment_key(video_id: int, rendition: str, segment: str) -> str:
    assert is_rendition(rendition) and SEGMENT_NAME.fullmatch(segment)
    return f"{hls_prefix(video_id)}{rendition}/{segment}"


def thumbnail_key(video_id: int) -> str:
    """The thumbnail the transcoder generates (always a JPEG)."""
    return f"thumbnails/{video_id}.{JPEG.extension}"


def custom_thumbnail_key(video_id: int, version: str, extension: str) -> str:
    """An uploaded thumbnail, named by its version, so a replacement never overwrites an
    object being served and the generated `thumbnails/<id>.jpg` can never clobber it."""
    return f"thumbnails/{video_id}.{version}.{extension}"


def thumbnail_prefixes(video_id: int) -> tuple[str, str]:
    """Every thumbnail object of a video lives under one of these."""
    return f"thumbnails/{video_id}.", f"thumbnails/{video_id}/"


_THUMBNAIL_KEY = re.compile(r"thumbnails/(\d+)[./][A-Za-z0-9_.-]{1,200}")


def is_thumbnail_key_of(video_id: int, key: str | None) -> bool:
    """Whether `key` (e.g. a transcoder's `thumbnail_key`) is a plausible key of this video's
    thumbnail: it is later served and deleted, so it must stay under the video's prefixes."""
    if not key:
        return False
    found = _THUMBNAIL_KEY.fullmatch(key)
    return (
        found is not None
        and int(found.group(1)) == video_id
        and ".." not in key
        and "/." not in key
        and not key.endswith("/")
    )
