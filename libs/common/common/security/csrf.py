"""The csrftoken, bound to its session.

Identity derives a session's token from the session id with a key of its own (an HMAC), so
it is the same at every renewal and a token of one session is worth nothing in another; a
token that was planted (a sibling site writing the cookie, with a header to match) fails too.
The access token carries a digest of it (`csrf` claim), which lets the gateway check the
binding on cookie-authenticated writes without knowing the key; identity checks it on logout
from the refresh token's session (an expired access token may be all the browser has left).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_LABEL = b"videoflix csrftoken v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")  # [A-Za-z0-9_-] only


def csrf_key(secret_material: str) -> bytes:
    """A key for `csrf_token` from a secret identity already keeps (its signing key)."""
    return hmac.new(secret_material.encode(), _LABEL, hashlib.sha256).digest()


def csrf_token(key: bytes, session_id: str) -> str:
    return _b64(hmac.new(key, session_id.encode(), hashlib.sha256).digest())


def csrf_digest(token: str) -> str:
    """What the access token carries: enough to check a header, useless to forge one."""
    return _b64(hashlib.sha256(token.encode()).digest())


def matches(header: str, digest: str | None) -> bool:
    return bool(header) and digest is not None and hmac.compare_digest(csrf_digest(header), digest)
