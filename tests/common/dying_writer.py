"""A writer for the crash tests of the object stores, run as its own process and killed
while it streams an object:

    python -m tests.common.dying_writer local ROOT KEY
    python -m tests.common.dying_writer s3 ENDPOINT ACCESS_KEY SECRET_KEY BUCKET KEY

It streams 11 MiB into `put_stream` (on S3 one whole 10 MiB part, so a multipart upload is
open), prints "stalled" and waits for more data that never comes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from common.storage import ObjectStore

MiB = 1024 * 1024
SENT = 11 * MiB


def open_store(kind: str, args: list[str]) -> tuple[ObjectStore, str]:
    if kind == "s3":
        from common.storage.s3 import S3ObjectStore

        endpoint, access, secret, bucket, key = args
        return S3ObjectStore(endpoint, access, secret, bucket, secure=False), key
    from common.storage.local import LocalObjectStore

    root, key = args
    return LocalObjectStore(Path(root)), key


async def stalling() -> AsyncIterator[bytes]:
    for _ in range(SENT // MiB):
        yield b"\x5a" * MiB
    print("stalled", flush=True)
    await asyncio.Event().wait()
    yield b"never"


async def main(kind: str, args: list[str]) -> None:
    store, key = open_store(kind, args)
    await store.start()
    await store.put_stream(key, stalling(), "video/mp4", max_size=None)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
