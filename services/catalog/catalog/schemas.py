"""Request and response bodies of the video and admin endpoints (CONTRACT.md).

Title, description and category are plain text the browser client inserts with `innerHTML`,
and it uses the category as an element id: the rules below keep markup and quoting out.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
)

from catalog import media
from catalog.models import Video
from common.refusals import Fields, validation_messages
from common.timefmt import UtcDateTime

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
CATEGORY_MAX = 50
RESERVED_CATEGORY = "newest"  # the client's own "New on Videoflix" row

_MARKUP = re.compile(r"[<>]")
_CATEGORY_QUOTES = re.compile(r"[\"'`]")
# control characters (C0 except tab/newline/CR, DEL, C1) have no business in any of them
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile(r"[\t\r\n]")


def _text(value: object) -> object:
    """Strings are taken stripped of surrounding whitespace; other types fail as usual."""
    return value.strip() if isinstance(value, str) else value


def _no_markup(value: str) -> str:
    if _MARKUP.search(value):
        raise ValueError("The characters < and > are not allowed.")
    if _CONTROL.search(value):
        raise ValueError("Control characters are not allowed.")
    return value


def _length(minimum: int, maximum: int) -> AfterValidator:
    def check(value: str) -> str:
        if len(value) < minimum:
            raise ValueError("This field may not be blank.")
        if len(value) > maximum:
            raise ValueError(f"Ensure this field has no more than {maximum} characters.")
        return value

    return AfterValidator(check)


def _single_line(value: str) -> str:
    if _LINE_BREAK.search(value):
        raise ValueError("Line breaks and tabs are not allowed.")
    return value


def _category_rules(value: str) -> str:
    if _CATEGORY_QUOTES.search(value):
        raise ValueError("Quotes and backticks are not allowed.")
    if value.lower() == RESERVED_CATEGORY:
        raise ValueError("This category name is reserved; choose another one.")
    return value


Title = Annotated[
    str,
    BeforeValidator(_text),
    _length(1, TITLE_MAX),
    AfterValidator(_no_markup),
    AfterValidator(_single_line),
]
Description = Annotated[
    str, BeforeValidator(_text), _length(0, DESCRIPTION_MAX), AfterValidator(_no_markup)
]
Category = Annotated[
    str,
    BeforeValidator(_text),
    _length(1, CATEGORY_MAX),
    AfterValidator(_no_markup),
    AfterValidator(_single_line),
    AfterValidator(_category_rules),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class VideoCreateIn(_In):
    """The text fields of the upload form."""

    title: Title
    description: Description = ""
    category: Category


class VideoPatchIn(_In):
    """PATCH: only the fields sent change; a null counts as not sent."""

    title: Title | None = None
    description: Description | None = None
    category: Category | None = None


def field_errors(exc: ValidationError) -> Fields:
    """`{field: [messages]}` in the contract's error shape, with the shared wording."""
    return validation_messages(exc.errors())


# ---------------------------------------------------------------------- answers


Status = Literal["processing", "ready", "failed"]


class PublicVideo(BaseModel):
    """One entry of `GET /api/video/`: exactly these fields, none ever null."""

    id: int
    created_at: UtcDateTime
    title: str
    description: str
    category: str
    thumbnail_url: str


class AdminVideo(BaseModel):
    id: int
    title: str
    description: str
    category: str
    created_at: UtcDateTime
    thumbnail_url: str | None
    """Null until the video has a thumbnail (uploaded or made by the transcoder)."""
    status: Status
    progress: int
    renditions: list[str]
    duration: float | None
    error: str | None
    width: int | None
    height: int | None
    source_bytes: int | None
    """The uploaded file's size; null for videos uploaded before sizes were recorded."""
    rendition_bytes: dict[str, int]
    """Rendition name -> bytes of its playlist and segments; `{}` until the video is ready
    (or when the sizes were never reported)."""


def thumbnail_url(video: Video, public_base_url: str) -> str | None:
    if not video.thumbnail_key:
        return None
    return f"{public_base_url}/api/thumbnails/{video.id}/{video.thumbnail_version}.jpg"


def _shown_to_all(video: Video) -> dict[str, Any]:
    """The fields both views have."""
    return {
        "id": video.id,
        "created_at": video.created_at,
        "title": video.title,
        "description": video.description,
        "category": video.category,
    }


def public_video(video: Video, public_base_url: str) -> PublicVideo:
    url = thumbnail_url(video, public_base_url) or ""
    return PublicVideo(**_shown_to_all(video), thumbnail_url=url)


def admin_video(video: Video, public_base_url: str) -> AdminVideo:
    return AdminVideo(
        **_shown_to_all(video),
        thumbnail_url=thumbnail_url(video, public_base_url),
        status=video.status,  # type: ignore[arg-type]
        progress=video.progress,
        renditions=media.sorted_renditions(video.renditions or []),
        duration=video.duration,
        error=video.error,
        width=video.width,
        height=video.height,
        source_bytes=video.source_bytes,
        rendition_bytes=video.rendition_bytes or {},
    )
