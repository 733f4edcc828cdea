"""The pieces of identity that need no database: link encoding and the password rules."""

from __future__ import annotations

import re

import pytest

from identity import links
from identity.passwords import hash_password, password_problems, verify_password

URLSAFE = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.mark.parametrize("user_id", [1, 9, 10, 255, 123456789, 2**40])
def test_uid_round_trips_and_is_url_safe(user_id: int) -> None:
    encoded = links.encode_uid(user_id)
    assert URLSAFE.match(encoded)
    assert links.decode_uid(encoded) == user_id


@pytest.mark.parametrize("garbage", ["", "!!", "a" * 64, "LTE", "YWJj", "MS4w"])
def test_uid_garbage_decodes_to_none(garbage: str) -> None:
    # LTE = "-1", YWJj = "abc", MS4w = "1.0"
    assert links.decode_uid(garbage) is None


def test_secrets_are_url_safe_and_distinct() -> None:
    secrets = {links.new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(URLSAFE.match(s) and len(s) >= 43 for s in secrets)


@pytest.mark.parametrize(
    ("password", "weak"),
    [
        ("short", True),
        ("1234567", True),
        ("password123", True),
        ("PassWord123", True),  # common, whatever the case
        ("qwertyuiop", True),
        ("tr0ub4dor&3-horse", False),
        ("        ", False),  # taken verbatim: eight spaces are long and not common
    ],
)
def test_weak_passwords(password: str, weak: bool) -> None:
    assert bool(password_problems(password)) is weak


def test_password_equal_to_email_is_weak() -> None:
    assert password_problems("someone@example.com", email="someone@example.com")


def test_argon2id_hash_verifies_only_the_right_password() -> None:
    hashed = hash_password("a long passphrase")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "a long passphrase")
    assert not verify_password(hashed, "a long passphrase ")
    assert not verify_password(None, "a long passphrase")
    assert not verify_password("not-a-hash", "x")
