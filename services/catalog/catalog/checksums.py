"""tus's checksum extension: `Upload-Checksum: <algorithm> <base64 digest>` on a PATCH; the
bytes of that PATCH are kept only when their digest matches (`catalog.resumable_parts`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from common.refusals import Invalid

ALGORITHMS = ("md5", "sha1", "sha256")
"""What `Tus-Checksum-Algorithm` would list."""


class ChecksumMismatch(Invalid):
    """tus answers it with 460 (`catalog.tus`)."""

    default_message = "The body does not match Upload-Checksum; none of it was kept."


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def hasher(self) -> Any:
        return hashlib.new(self.algorithm, usedforsecurity=False)


def parse_checksum(header: str) -> Checksum:
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in ALGORITHMS:
        raise Invalid(f"Upload-Checksum: the algorithm is one of {', '.join(ALGORITHMS)}.")
    try:
        digest = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != hashlib.new(algorithm, usedforsecurity=False).digest_size:
        raise Invalid(f"Upload-Checksum: not a base64 {algorithm} digest.")
    return Checksum(algorithm, digest)
