"""Object store on S3 (MinIO in compose/k8s) through the minio SDK.

The SDK is synchronous, so every call runs in a worker thread. Streams of unknown length are
bridged to `put_object(length=-1)`: the caller's task feeds chunks into a small bounded queue and
the upload thread reads them through a file-like object, one part at a time, so memory stays
bounded by the part size whatever the object size.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import queue
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from common.storage._s3_stale import abort_stale_uploads
from common.storage._shared import (
    CHUNK_SIZE,
    LimitedStream,
    check_compose,
    check_range,
    download_to,
)
from common.storage.port import (
    COMPOSE_MIN_PART,
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectNotFound,
    check_key,
    check_prefix,
)

PART_SIZE = 10 * 1024 * 1024
"""Multipart part size for streamed uploads: objects up to 10,000 parts of this. An upload
holds about three parts in memory at its peak (the SDK keeps the previous part while reading
the next one and copies it once more), whatever the object's size."""
QUEUE_CHUNKS = 8
"""Chunks buffered between the producer and the upload thread."""
DELETE_BATCH = 1000  # the most one DeleteObjects request takes
STREAM_UPLOAD_THREADS = 16
"""A streamed upload holds a thread for as long as its client keeps sending; these get their own
pool so that slow uploads cannot starve the default executor every other call runs in."""

_NOT_FOUND = {"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"}
_EOF = object()
_WAKE = object()  # nudges a waiting reader to notice an abort


class _Aborted(Exception):
    """Raised inside the upload thread so that put_object aborts its multipart upload."""


class _QueueReader:
    """File-like end of the bridge, read by minio in the upload thread.

    `read(n)` blocks until it has `n` bytes or the stream ended: minio asks for a whole part at
    a time and concatenates what `read` returns with `+=`, so short reads would cost O(n^2).
    """

    def __init__(self, chunks: queue.Queue[object], on_take: Any) -> None:
        self._chunks = chunks
        self._on_take = on_take
        self._pending: memoryview | None = None
        self._eof = False
        self.abort_reason: BaseException | None = None

    def _next(self) -> object:
        while True:
            if self.abort_reason is not None:
                raise _Aborted() from self.abort_reason
            try:
                item = self._chunks.get(timeout=1.0)
            except queue.Empty:
                continue
            if item is _WAKE:
                continue
            self._on_take()
            return item

    def abort(self, reason: BaseException) -> None:
        """Make the next `read` raise, waking the reader if it waits for a chunk."""
        self.abort_reason = reason
        with contextlib.suppress(queue.Full):  # full: the reader is busy, not waiting
            self._chunks.put_nowait(_WAKE)

    def read(self, size: int = -1) -> bytes:
        want = size if size is not None and size >= 0 else None
        parts: list[memoryview] = []
        have = 0
        while want is None or have < want:
            if self._pending is None:
                if self._eof:
                    break
                item = self._next()
                if item is _EOF:
                    self._eof = True
                    break
                self._pending = memoryview(item)  # type: ignore[arg-type]
            take = self._pending if want is None else self._pending[: want - have]
            parts.append(take)
            have += len(take)
            rest = self._pending[len(take) :]
            self._pending = rest if len(rest) else None
        return b"".join(parts)


class S3ObjectStore:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str | None = "us-east-1",
        *,
        part_size: int = PART_SIZE,
    ) -> None:
        if endpoint.startswith(("http://", "https://")):
            secure = endpoint.startswith("https://")
            endpoint = endpoint.split("://", 1)[1]
        endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.part_size = part_size
        self.region = region or None
        # The SDK's default waits 5 minutes to connect; a health check should not.
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10, read=300),
            maxsize=16,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or _certifi_where(),
            retries=urllib3.Retry(
                total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        self._upload_pool = ThreadPoolExecutor(
            max_workers=STREAM_UPLOAD_THREADS, thread_name_prefix="s3-upload"
        )
        self._client = Minio(
            endpoint,
            access_key=access_key or None,
            secret_key=secret_key or None,
            secure=secure,
            region=self.region,
            http_client=self._http,
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        def ensure_bucket() -> None:
            if self._client.bucket_exists(self.bucket):
                return
            try:
                self._client.make_bucket(self.bucket, location=self.region)
            except S3Error as exc:
                if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

        await asyncio.to_thread(ensure_bucket)

    async def close(self) -> None:
        self._upload_pool.shutdown(wait=False)
        self._http.clear()

    async def ping(self) -> bool:
        try:
            return await asyncio.to_thread(self._client.bucket_exists, self.bucket)
        except Exception:
            return False

    # ------------------------------------------------------------------ writes

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        check_key(key)
        content_type = content_type or DEFAULT_CONTENT_TYPE
        result = await asyncio.to_thread(
            self._client.put_object,
            self.bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type=content_type,
            # one PUT up to a streamed upload's part size (the SDK's default, 5 MiB, would
            # make a resumable upload's 8 MiB part a multipart upload of its own)
            part_size=max(self.part_size, COMPOSE_MIN_PART),
        )
        return ObjectInfo(key, len(data), _etag(result.etag), content_type)

    async def put_file(self, key: str, path: Path, content_type: str) -> ObjectInfo:
        check_key(key)
        content_type = content_type or DEFAULT_CONTENT_TYPE

        def upload() -> ObjectInfo:
            size = os.path.getsize(path)
            # one part at a time: the SDK's parallel mode queues parts without bound, so a
            # fast disk and a slow network would pull the whole file into memory
            result = self._client.fput_object(
                self.bucket, key, str(path), content_type=content_type, num_parallel_uploads=1
            )
            return ObjectInfo(key, size, _etag(result.etag), content_type)

        return await asyncio.to_thread(upload)

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str, *, max_size: int | None
    ) -> ObjectInfo:
        check_key(key)
        content_type = content_type or DEFAULT_CONTENT_TYPE
        loop = asyncio.get_running_loop()
        bridge: queue.Queue[object] = queue.Queue(maxsize=QUEUE_CHUNKS)
        space = asyncio.Event()

        def on_take() -> None:
            with contextlib.suppress(RuntimeError):  # loop already closed: nobody is waiting
                loop.call_soon_threadsafe(space.set)

        reader = _QueueReader(bridge, on_take)
        upload = loop.run_in_executor(
            self._upload_pool,
            lambda: self._client.put_object(
                self.bucket,
                key,
                cast(BinaryIO, reader),  # file-like enough: the SDK only calls read()
                -1,
                content_type=content_type,
                part_size=self.part_size,
                num_parallel_uploads=1,  # parallel parts would each hold a part in memory
            ),
        )
        upload.add_done_callback(lambda _: space.set())

        async def feed(item: object) -> bool:
            """Queue one item, waiting for room; False once the upload has ended."""
            while not upload.done():
                space.clear()
                try:
                    bridge.put_nowait(item)
                    return True
                except queue.Full:
                    await space.wait()
            return False

        async with contextlib.aclosing(LimitedStream(key, chunks, max_size)) as source:
            try:
                async for chunk in source:
                    if chunk and not await feed(bytes(chunk)):
                        break  # the upload failed; its error is raised below
                else:
                    await feed(_EOF)
                # shielded: cancelling us must not mark the upload done while its thread runs
                result = await asyncio.shield(upload)
            except BaseException as exc:
                # Make the reader raise so put_object aborts the multipart upload (nothing is
                # stored), and wait for that to happen, also when we were cancelled.
                reader.abort(exc)
                await asyncio.wait({upload})
                if not upload.cancelled():
                    upload.exception()  # retrieved: the caller's error is the one that matters
                raise
        return ObjectInfo(key, source.size, _etag(result.etag), content_type)

    async def compose(self, key: str, sources: Sequence[str], content_type: str) -> ObjectInfo:
        """S3's multipart upload with UploadPartCopy parts, through the SDK's public
        `compose_object` (it stats each source, then copies it server-side as one part, or
        a whole object with CopyObject for a single source). Public on purpose: the SDK's
        `_create_multipart_upload`/`_upload_part` would let a writer keep a multipart upload
        open across requests, but such an upload is what `abort_stale_writes` takes for a
        dead writer's; composing finished objects keeps every multipart upload short-lived."""
        check_key(key)
        for source in sources:
            check_key(source)
        check_compose(list(sources))
        content_type = content_type or DEFAULT_CONTENT_TYPE

        def run() -> ObjectInfo:
            # the SDK stats every source once and refuses a short part before the last
            # (`ValueError`, COMPOSE_MIN_PART being its MIN_PART_SIZE): no stat of our own
            parts = [ComposeSource(self.bucket, source) for source in sources]
            try:
                result = self._client.compose_object(
                    self.bucket, key, parts, metadata={"Content-Type": content_type}
                )
            except S3Error as exc:
                if exc.code in _NOT_FOUND:  # a missing source, or one deleted meanwhile
                    raise ObjectNotFound(self._first_missing(sources) or key) from None
                raise
            size = sum(int(part.object_size or 0) for part in parts)
            return ObjectInfo(key, size, _etag(result.etag), content_type)

        return await asyncio.to_thread(run)

    def _first_missing(self, keys: Sequence[str]) -> str | None:
        """Which of `keys` is gone, for the refusal's wording. Asked again on the error path
        because the SDK's error names the object only from minio 7.2.17 on (`object_name`;
        `_object_name` before), and the floor is older."""
        for candidate in keys:
            try:
                self._client.stat_object(self.bucket, candidate)
            except S3Error as exc:
                if exc.code in _NOT_FOUND:
                    return candidate
                raise
        return None

    # ------------------------------------------------------------------ reads

    async def get_bytes(self, key: str) -> bytes:
        check_key(key)

        def read() -> bytes:
            response = self._get(key)
            try:
                data: bytes = response.read()
                return data
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(read)

    async def download(self, key: str, path: Path) -> None:
        check_key(key)
        dest = Path(path)

        def copy() -> None:
            response = self._get(key)

            def write(out: BinaryIO) -> None:
                for data in response.stream(CHUNK_SIZE):
                    out.write(data)

            try:
                download_to(dest, write)
            finally:
                response.close()
                response.release_conn()

        await asyncio.to_thread(copy)

    def _get(self, key: str, offset: int = 0, length: int = 0) -> Any:
        try:
            return self._client.get_object(self.bucket, key, offset=offset, length=length)
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                raise ObjectNotFound(key) from None
            raise

    async def stat(self, key: str) -> ObjectInfo:
        check_key(key)
        try:
            obj = await asyncio.to_thread(self._client.stat_object, self.bucket, key)
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                raise ObjectNotFound(key) from None
            raise
        return ObjectInfo(
            key, int(obj.size or 0), _etag(obj.etag), obj.content_type or DEFAULT_CONTENT_TYPE
        )

    async def iter_range(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Bytes `start..end` inclusive, clamped to the object; nothing when `start` is past
        its end."""
        check_key(key)
        check_range(start, end)
        length = 0 if end is None else end - start + 1  # 0: to the end
        try:
            response = await asyncio.to_thread(self._get, key, start, length)
        except S3Error as exc:
            if exc.code == "InvalidRange":  # start is past the end of the object
                return
            raise
        try:
            while chunk := await asyncio.to_thread(response.read, CHUNK_SIZE):
                yield chunk
        finally:
            # closing drops a half-read connection instead of returning it dirty to the pool
            response.close()
            response.release_conn()

    async def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> list[str]:
        return [
            str(obj.object_name)
            for obj in self._client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
            if obj.object_name and not obj.is_dir
        ]

    # ------------------------------------------------------------------ deletes

    async def delete(self, key: str) -> None:
        check_key(key)
        await asyncio.to_thread(self._client.remove_object, self.bucket, key)

    async def delete_prefix(self, prefix: str) -> int:
        """Refuses an empty prefix: wiping the whole bucket is never what a caller means."""
        if not prefix:
            raise ValueError("delete_prefix needs a non-empty prefix")
        check_prefix(prefix)

        def run() -> int:
            deleted = 0
            batch: list[str] = []

            def flush() -> None:
                nonlocal deleted
                errors = list(
                    self._client.remove_objects(self.bucket, [DeleteObject(k) for k in batch])
                )
                failed = [e for e in errors if e.code not in _NOT_FOUND]
                if failed:
                    raise RuntimeError(f"could not delete {len(failed)} objects: {failed[0]}")
                deleted += len(batch) - len(errors)
                batch.clear()

            for obj in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if obj.object_name and not obj.is_dir:
                    batch.append(obj.object_name)
                    if len(batch) >= DELETE_BATCH:
                        flush()
            if batch:
                flush()
            return deleted

        return await asyncio.to_thread(run)

    # ------------------------------------------------------------------ crash clean-up

    async def abort_stale_writes(self, older_than: timedelta) -> int:
        """Abort multipart uploads whose writer died: none of their parts came for longer than
        `older_than` (S3 keeps the parts, and bills them, until then). Returns how many."""
        cutoff = datetime.now(UTC) - older_than
        return await asyncio.to_thread(abort_stale_uploads, self._client, self.bucket, cutoff)


def _etag(etag: str | None) -> str:
    return (etag or "").strip('"')


def _certifi_where() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - minio depends on certifi
        return None
    return certifi.where()
