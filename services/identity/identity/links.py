"""The `uidb64` and `token` of activation and reset links.

Both use only `[A-Za-z0-9_-]` (CONTRACT.md): the client puts them into API paths unencoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets


def encode_uid(user_id: int) -> str:
    return base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")


def decode_uid(uidb64: str) -> int | None:
    if not uidb64 or len(uidb64) > 32:
        return None
    try:
        raw = base64.urlsafe_b64decode(uidb64 + "=" * (-len(uidb64) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def new_secret() -> str:
    """256 bits, URL-safe base64 without padding."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
