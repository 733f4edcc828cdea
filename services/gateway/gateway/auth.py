"""Who is calling: the access token from the `access_token` cookie, else `Authorization:
Bearer`, checked for signature, expiry and revocation.

A token's signature check is done once: its verified claims are kept (a small LRU, keyed by
the exact token string) until the token's `exp`, after which it is verified afresh, so an
expired token is refused exactly as before. Revocation (logout, password reset) is checked on
every request: it is what can change during a token's life.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from common.errors import ApiError
from common.kv import KeyValueStore
from common.security.cookies import ACCESS_COOKIE
from common.security.principal import Principal
from common.security.revocation import is_revoked
from common.security.tokens import AccessClaims, InvalidToken, TokenVerifier

log = logging.getLogger(__name__)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="videoflix"'}
VERIFIED_TOKENS = 4096
"""How many verified tokens the gateway remembers (a few MB at most)."""


@dataclass(frozen=True)
class Authenticated:
    principal: Principal
    from_cookie: bool  # cookie-authenticated unsafe requests need the CSRF check
    csrf_digest: str | None = None  # the session's csrftoken, as its digest


def _candidates(request: Request) -> list[tuple[str, bool]]:
    found: list[tuple[str, bool]] = []
    if cookie := request.cookies.get(ACCESS_COOKIE):
        found.append((cookie, True))
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        found.append((credentials.strip(), False))
    return found


class VerifiedTokens:
    """The claims of tokens whose signature, issuer and audience were checked, until their
    `exp` (the verifier's leeway is left to the verifier: past `exp` a token is checked
    again). Only tokens that passed are kept, so garbage cannot evict them."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        max_entries: int = VERIFIED_TOKENS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self._max = max_entries
        self._clock = clock
        self._claims: OrderedDict[str, AccessClaims] = OrderedDict()

    def verify(self, token: str) -> AccessClaims:
        """Raises `InvalidToken`, like `TokenVerifier.verify`."""
        claims = self._claims.get(token)
        if claims is not None:
            if self._clock() < claims.exp:
                self._claims.move_to_end(token)
                return claims
            del self._claims[token]
        claims = self.verifier.verify(token)
        if self._clock() < claims.exp:
            self._claims[token] = claims
            if len(self._claims) > self._max:
                self._claims.popitem(last=False)
        return claims


class Authenticator:
    def __init__(self, verifier: TokenVerifier, kv: KeyValueStore) -> None:
        self.verifier = verifier
        self.tokens = VerifiedTokens(verifier)
        self.kv = kv

    async def authenticate(self, request: Request) -> Authenticated:
        candidates = _candidates(request)
        if not candidates:
            raise ApiError(401, "Authentication credentials were not provided.", headers=_CHALLENGE)
        for token, from_cookie in candidates:
            claims = await self._valid_claims(token)
            if claims is not None:
                principal = Principal(
                    user_id=claims.user_id,
                    email=claims.email,
                    admin=claims.admin,
                    session_id=claims.sid,
                )
                return Authenticated(principal, from_cookie, claims.csrf)
        raise ApiError(401, "The access token is invalid or has expired.", headers=_CHALLENGE)

    async def _valid_claims(self, token: str) -> AccessClaims | None:
        try:
            claims = self.tokens.verify(token)
        except InvalidToken:
            return None
        try:
            revoked = await is_revoked(self.kv, claims)
        except Exception as exc:
            # fail closed: without the revocation list a logged-out token could still pass
            log.warning("revocation check failed: %s", exc)
            raise ApiError(503) from exc
        return None if revoked else claims
