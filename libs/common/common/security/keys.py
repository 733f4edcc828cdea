"""The JWT key pair: Ed25519. Identity signs with the private key; everyone else verifies
with the public key. In all-in-one mode a pair is generated on first start under DATA_DIR."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.config import Settings
from common.private_files import private_directory


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str


def generate_keypair() -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyPair(private_pem, public_pem)


def public_from_private(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def load_or_create_keypair(directory: Path) -> KeyPair:
    """Read `jwt_private.pem` / `jwt_public.pem` from `directory`, creating them if absent."""
    private_path, public_path = directory / "jwt_private.pem", directory / "jwt_public.pem"
    if private_path.exists():
        private_pem = private_path.read_text()
        public_pem = public_path.read_text() if public_path.exists() else ""
        return KeyPair(private_pem, public_pem or public_from_private(private_pem))
    private_directory(directory)  # 0700, DATA_DIR with it when it is made here
    pair = generate_keypair()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(pair.private_pem)
    public_path.write_text(pair.public_pem)
    return pair


def normalize_pem(value: str) -> str:
    """Accept PEMs from environment variables written with literal `\\n`."""
    return value.replace("\\n", "\n").strip() + "\n" if value else ""


def signing_keypair(settings: Settings) -> KeyPair:
    """Identity's pair: JWT_PRIVATE_KEY, else one kept under DATA_DIR/keys (created on first
    start, which is what all-in-one and a single-host deployment want)."""
    if settings.jwt_private_key:
        private_pem = normalize_pem(settings.jwt_private_key)
        pair = KeyPair(private_pem, public_from_private(private_pem))
        _publish_public_key(settings.data_dir / "keys", pair.public_pem)
        return pair
    return load_or_create_keypair(settings.data_dir / "keys")


def _publish_public_key(directory: Path, public_pem: str) -> None:
    """Keep a shared key folder (if there is one) in step with a configured private key, so a
    gateway reading it never verifies with an older generated pair."""
    path = directory / "jwt_public.pem"
    if directory.is_dir() and (not path.exists() or path.read_text() != public_pem):
        with contextlib.suppress(OSError):  # a read-only mount: the operator manages it
            path.write_text(public_pem)


def verification_key(settings: Settings) -> str:
    """What verifiers use: JWT_PUBLIC_KEY, else the public half of JWT_PRIVATE_KEY, else the
    public key identity keeps under a shared DATA_DIR/keys."""
    if settings.jwt_public_key:
        return normalize_pem(settings.jwt_public_key)
    if settings.jwt_private_key:
        return public_from_private(normalize_pem(settings.jwt_private_key))
    path = settings.data_dir / "keys" / "jwt_public.pem"
    if path.exists():
        return path.read_text()
    raise ValueError(f"no JWT public key: set JWT_PUBLIC_KEY or provide {path}")
