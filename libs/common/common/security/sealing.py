"""Sealing: authenticated encryption of a secret that has to wait in a table on its way
between two services, e.g. the link (with its live token) in a mail event, which sits in
identity's outbox and on the bus until the mailer sends it. Only holders of the key
(identity and the mailer) can read it; anyone else sees, and can alter, nothing.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`), with key rotation: several keys
may be configured, the first seals, every one unseals. Rotate by putting a new key first,
and drop the old one once nothing sealed with it can still be waiting (the bus's retries).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from common.config import Settings
from common.private_files import create_private_file, restrict

log = logging.getLogger(__name__)

# what the placeholder keys of the deployment templates decode to
PLACEHOLDER_PREFIX = b"change-me"

# relative to DATA_DIR: a folder of its own, so a deployment can share it with the mailer
# without sharing the JWT key pair beside it
MAIL_LINK_KEY_FILE = Path("keys") / "mail" / "link.key"


class Unsealable(ValueError):
    """Not sealed with any of our keys, or altered (never says more: no secret in logs)."""


def generate_key() -> str:
    """A new key: 32 random bytes, URL-safe base64 (what MAIL_LINK_KEY takes)."""
    return Fernet.generate_key().decode()


def parse_keys(value: str) -> list[str]:
    """Keys separated by commas or white space (the first seals)."""
    return [k for k in re.split(r"[\s,]+", value) if k]


def is_placeholder(key: str) -> bool:
    """A key anyone can read in the deployment templates."""
    try:
        return base64.urlsafe_b64decode(key).startswith(PLACEHOLDER_PREFIX)
    except (binascii.Error, ValueError):
        return False


class Sealer:
    def __init__(self, keys: Sequence[str], *, source: str = "the key") -> None:
        if not keys:
            raise ValueError(f"{source}: no key")
        fernets = []
        for number, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except ValueError:  # the key itself is never quoted
                raise ValueError(
                    f"{source}: key {number} is not 32 bytes in URL-safe base64 "
                    "(make one with: python -c 'import base64, os; "
                    "print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
                ) from None
        self._fernet = MultiFernet(fernets)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def unseal(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, UnicodeError):
            raise Unsealable("cannot be unsealed with the configured keys") from None


def mail_link_sealer(settings: Settings, *, create: bool = False) -> Sealer:
    """The key identity and the mailer share for the links in mail events: MAIL_LINK_KEY, else
    the file DATA_DIR/keys/mail/link.key. Identity creates that file on first start
    (`create`), the way it creates the JWT key pair: what the all-in-one wiring wants, and a
    single host that shares the folder. The mailer never creates one: a key of its own would
    unseal nothing, so it refuses to start instead."""
    if settings.mail_link_key.strip():
        keys = parse_keys(settings.mail_link_key)
        if is_placeholder(keys[0]) and not settings.is_development:
            log.warning("MAIL_LINK_KEY IS THE TEMPLATE'S PLACEHOLDER: set a key of your own")
        return Sealer(keys, source="MAIL_LINK_KEY")
    path = settings.data_dir / MAIL_LINK_KEY_FILE
    if create:
        create_private_file(path, (generate_key() + "\n").encode())  # unless it exists
    try:
        keys = parse_keys(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"no mail link key: set MAIL_LINK_KEY (the same for identity and the mailer), "
            f"or share {path.parent} with identity, which creates one"
        ) from None
    restrict(path)
    return Sealer(keys, source=str(path))
