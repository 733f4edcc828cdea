"""The catalog's refusals, in the contract's words; `common.errors` gives each its status.

Refusals about one form field (a duplicate, an over-long text) are raised where the field is
read (`catalog.forms`) with `invalid({field: [message]})`.
"""

from __future__ import annotations

from common.refusals import Conflict, Invalid, NotFound, TooLarge, Unsupported

MALFORMED_FORM = "The request body is not valid multipart/form-data."


class VideoNotFound(NotFound):
    default_message = "Video not found."


class NotFailed(Conflict):
    """A retry of a video that is not `failed` (processing, ready, or it changed meanwhile)."""

    default_message = "Only a failed video can be retried."


class SourceGone(Conflict):
    """A retry of a failed video whose uploaded file is no longer in the store."""

    default_message = "The uploaded file of this video is gone; delete it and upload it again."


class MalformedBody(Invalid):
    """A multipart body the parser cannot read."""

    default_message = MALFORMED_FORM


class UploadTooLarge(TooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The video file is larger than {size_text(limit)}.")


class ThumbnailTooLarge(TooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(
            fields={"thumbnail": [f"The thumbnail is larger than {size_text(limit)}."]}
        )


class ThumbnailNotAnImage(Unsupported):
    def __init__(self) -> None:
        super().__init__(fields={"thumbnail": ["The thumbnail must be a JPEG, PNG or WebP image."]})


def size_text(limit: int) -> str:
    """A byte limit the way a person says it: `10 GiB`, `5 MB`, `1000 bytes`."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("MB", 1000**2), ("KiB", 1024)):
        if limit >= factor and limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit} bytes"
