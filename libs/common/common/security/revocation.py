"""Revocation markers in the key-value store, written by identity and read by the gateway.

- a revoked session (logout): `revoked:session:<sid>`, kept as long as an access token lives;
- a user whose sessions all ended (password reset): `revoked:user:<id>` = the second it
  happened; tokens issued in an earlier second are refused. Identity also marks each of that
  user's sessions, which covers tokens minted within that same second.
"""

from __future__ import annotations

import time

from common.kv import KeyValueStore
from common.security.tokens import AccessClaims


def _session_key(session_id: str) -> str:
    return f"revoked:session:{session_id}"


def _user_key(user_id: int) -> str:
    return f"revoked:user:{user_id}"


async def revoke_session(kv: KeyValueStore, session_id: str, *, ttl_seconds: int) -> None:
    await kv.set(_session_key(session_id), "1", ttl_seconds=ttl_seconds)


async def revoke_user(kv: KeyValueStore, user_id: int, *, ttl_seconds: int) -> None:
    await kv.set(_user_key(user_id), str(int(time.time())), ttl_seconds=ttl_seconds)


async def is_revoked(kv: KeyValueStore, claims: AccessClaims) -> bool:
    """Asked on every authenticated request, so both markers are read in one round trip."""
    session, revoked_at = await kv.get_many(_session_key(claims.sid), _user_key(claims.user_id))
    if session is not None:
        return True
    return revoked_at is not None and claims.iat < int(revoked_at)
