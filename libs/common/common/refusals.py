"""Domain refusals: why a use case said no, in the contract's words, with no HTTP in sight.

A use case raises one of the kinds below (or a subclass that names its case, with the message
the contract needs); `common.errors` answers every refusal at the HTTP edge, with the status of
its kind and the contract's error shape. Use cases import this module, never FastAPI or
`common.errors` (an import-linter contract keeps it so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, ClassVar

Fields = dict[str, list[str]]
"""Messages per field, `{"title": ["This field may not be blank."]}`."""


class RefusalKind(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNSUPPORTED = "unsupported"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"


class Refusal(Exception):
    """Why a use case refused: a message, or messages per field. Raise a kind, not this."""

    kind: ClassVar[RefusalKind]
    default_message: ClassVar[str | None] = None
    """The message of a subclass raised without one; None: the kind's generic wording."""
    message_key: ClassVar[str] = "detail"
    """Where the message goes in the error body (a few answers of the contract say `message`)."""

    def __init_subclass__(cls, kind: RefusalKind | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind

    def __init__(self, message: str | None = None, *, fields: Fields | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.fields = fields
        super().__init__(self.message or "")


# The kinds; a use case raises one of these, or a subclass that names its case.
class Invalid(Refusal, kind=RefusalKind.INVALID): ...


class NotFound(Refusal, kind=RefusalKind.NOT_FOUND): ...


class Conflict(Refusal, kind=RefusalKind.CONFLICT): ...


class TooLarge(Refusal, kind=RefusalKind.TOO_LARGE): ...


class Unsupported(Refusal, kind=RefusalKind.UNSUPPORTED): ...


class Unauthorized(Refusal, kind=RefusalKind.UNAUTHORIZED): ...


class Forbidden(Refusal, kind=RefusalKind.FORBIDDEN): ...


class RateLimited(Refusal, kind=RefusalKind.RATE_LIMITED):
    retry_after_seconds: int | None = None
    """Seconds to wait before trying again, answered as `Retry-After`; None: not said."""


def invalid(fields: Fields) -> Invalid:
    """Problems per field; problems with the input as a whole (`detail`) become one message."""
    if list(fields) == ["detail"]:
        return Invalid(" ".join(fields["detail"]))
    return Invalid(fields=fields)


_MESSAGE_REWRITES = {
    "missing": "This field is required.",
    "json_invalid": "Malformed JSON body.",
    "model_attributes_type": "Expected a JSON object.",
    "dict_type": "Expected a JSON object.",
    "string_type": "Expected a text value.",
}
_LOCATIONS = ("body", "query", "path", "header", "cookie")


def validation_messages(errors: Iterable[Mapping[str, Any]]) -> Fields:
    """Pydantic's errors as `{field: [messages]}` in the shared wording, echoing no input."""
    fields: Fields = {}
    for err in errors:
        kind = str(err.get("type", ""))
        loc = [p for p in err.get("loc", ()) if isinstance(p, str) and p not in _LOCATIONS]
        field = loc[-1] if loc and kind != "json_invalid" else "detail"
        message = _MESSAGE_REWRITES.get(kind) or str(err.get("msg", "Invalid value."))
        fields.setdefault(field, []).append(message.removeprefix("Value error, "))
    return fields
