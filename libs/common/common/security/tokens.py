"""Access tokens: short-lived EdDSA JWTs naming the user and the session they belong to."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt
from pydantic import BaseModel

from common.security.csrf import csrf_digest

ALGORITHM = "EdDSA"
ISSUER = "videoflix-identity"
AUDIENCE = "videoflix"


class AccessClaims(BaseModel):
    sub: str  # user id
    email: str
    admin: bool
    sid: str  # session id: logout revokes it
    jti: str
    iat: int
    exp: int
    csrf: str | None = None  # digest of the session's csrftoken (common.security.csrf)

    @property
    def user_id(self) -> int:
        return int(self.sub)


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class TokenSigner:
    private_pem: str
    lifetime_seconds: int

    def issue(
        self, *, user_id: int, email: str, admin: bool, session_id: str, csrf: str | None = None
    ) -> str:
        """`csrf`: the session's csrftoken, whose digest the token then carries."""
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "email": email,
            "admin": admin,
            "sid": session_id,
            "jti": secrets.token_urlsafe(12),
            "iat": now,
            "exp": now + self.lifetime_seconds,
        }
        if csrf is not None:
            claims["csrf"] = csrf_digest(csrf)
        return jwt.encode(claims, self.private_pem, algorithm=ALGORITHM)


@dataclass(frozen=True)
class TokenVerifier:
    public_pem: str
    leeway_seconds: int = 5

    def verify(self, token: str) -> AccessClaims:
        """Signature, expiry, issuer and audience; revocation is checked separately."""
        try:
            claims = jwt.decode(
                token,
                self.public_pem,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "sid"]},
            )
            return AccessClaims.model_validate(claims)
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidToken(str(exc)) from exc
