"""Reading the admin's forms: the text fields and thumbnail of the upload and of a multipart
PATCH, and the body of a JSON PATCH.

What the fields may hold is in `catalog.schemas`; a bad field is refused as soon as it is read,
so a bad title sent before the file refuses the upload before any of the file is stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from catalog import media
from catalog.formstream import FormPart, FormStream, MalformedForm, PartTooLarge
from catalog.refusals import MalformedBody, ThumbnailNotAnImage, ThumbnailTooLarge
from catalog.schemas import VideoCreateIn, VideoPatchIn, field_errors
from common.refusals import Invalid, invalid

TEXT_FIELDS = ("title", "description", "category")
MAX_TEXT_FIELD_BYTES = 32 * 1024
"""Far above what the longest valid field (5000 characters of UTF-8) needs."""


@dataclass(frozen=True)
class ThumbnailUpload:
    data: bytes
    kind: media.ImageKind


@dataclass(frozen=True)
class PatchForm:
    changes: VideoPatchIn
    thumbnail: ThumbnailUpload | None


async def take_text(texts: dict[str, str], part: FormPart) -> None:
    """Read one text field into `texts`; each may come only once."""
    if part.name in texts:
        raise invalid({part.name: ["Send this field only once."]})
    try:
        raw = await part.read(MAX_TEXT_FIELD_BYTES)
    except PartTooLarge:
        raise invalid({part.name: ["This value is too long."]}) from None
    try:
        texts[part.name] = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid({part.name: ["Expected UTF-8 text."]}) from None


def check_partial(texts: dict[str, str]) -> None:
    """Validate the text fields received so far (missing ones are checked at the end)."""
    try:
        VideoCreateIn.model_validate(texts)
    except ValidationError as exc:
        fields = {name: messages for name, messages in field_errors(exc).items() if name in texts}
        if fields:
            raise invalid(fields) from None


def upload_metadata(texts: dict[str, str], *, has_file: bool) -> VideoCreateIn:
    """The upload's text fields once the form is read, every problem at once."""
    problems: dict[str, list[str]] = {}
    metadata: VideoCreateIn | None = None
    try:
        metadata = VideoCreateIn.model_validate(texts)
    except ValidationError as exc:
        problems.update(field_errors(exc))
    if not has_file:
        problems["file"] = ["This field is required."]
    if problems or metadata is None:
        raise invalid(problems)
    return metadata


async def read_thumbnail(part: FormPart, limit: int) -> ThumbnailUpload | None:
    """The image, recognised by its bytes; None for an empty file input."""
    try:
        data = await part.read(limit)
    except PartTooLarge:
        raise ThumbnailTooLarge(limit) from None
    if not data:
        return None
    kind = media.sniff_image(data[:16])
    if kind is None:
        raise ThumbnailNotAnImage
    return ThumbnailUpload(data, kind)


async def first_chunk(part: FormPart) -> bytes | None:
    """The first non-empty chunk of a part, None when the part is empty."""
    async for chunk in part.chunks():
        if chunk:
            return chunk
    return None


async def read_patch_form(form: FormStream, thumbnail_limit: int) -> PatchForm:
    """The multipart flavour of PATCH: text fields and/or a new thumbnail."""
    texts: dict[str, str] = {}
    thumbnail: ThumbnailUpload | None = None
    try:
        async for part in form.parts():
            if part.name in TEXT_FIELDS:
                await take_text(texts, part)
            elif part.name == "thumbnail":
                if thumbnail is not None:
                    raise invalid({"thumbnail": ["Send only one thumbnail."]})
                thumbnail = await read_thumbnail(part, thumbnail_limit)
            elif part.name == "file":
                raise invalid({"file": ["The video itself cannot be replaced."]})
    except MalformedForm:
        raise MalformedBody from None
    return PatchForm(_patch(texts), thumbnail)


def patch_from_json(body: bytes) -> VideoPatchIn:
    """The JSON flavour of PATCH; an empty body changes nothing."""
    if not body.strip():
        return VideoPatchIn()
    try:
        data = json.loads(body)
    except ValueError:
        raise Invalid("Malformed JSON body.") from None
    if not isinstance(data, dict):
        raise Invalid("Expected a JSON object.")
    return _patch(data)


def _patch(data: Mapping[str, object]) -> VideoPatchIn:
    try:
        return VideoPatchIn.model_validate(data)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None
