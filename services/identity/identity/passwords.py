"""Password hashing (argon2id) and the weak-password rule of the contract."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# verified against when the email is unknown, so both paths cost the same time
_DUMMY_HASH = _hasher.hash("videoflix-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@cache
def _breached() -> frozenset[str]:
    text = files("identity.data").joinpath("common_passwords.txt").read_text()
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line.lower() for line in lines if line and not line.startswith("#"))


def password_problems(password: str, *, email: str = "") -> list[str]:
    """Why a password is too weak, as messages for the client; empty when it is fine."""
    if len(password) < MIN_LENGTH:
        return [f"This password is too short. It must contain at least {MIN_LENGTH} characters."]
    lowered = password.lower()
    if lowered in _breached():
        return ["This password is too common."]
    if email and lowered == email.lower():
        return ["The password is too similar to the email address."]
    return []
