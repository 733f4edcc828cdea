"""Object store on a local directory: the embedded adapter of the all-in-one wiring.

Layout: the object under key `a/b/c.ts` is the file `<root>/a/b/c.ts`. Its content type and
etag live in a sidecar `<root>/a/b/.vf-meta-c.ts`; writes go to `.vf-tmp-*` files in the same
directory and are moved into place with `os.replace`, so readers never see a partial object.
Names starting with `.vf-` are therefore reserved and refused as key segments.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import mimetypes
import os
import shutil
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from stat import S_ISREG
from typing import Any, BinaryIO

from common.media import JPEG_TYPE, PLAYLIST_TYPE, SEGMENT_TYPE
from common.storage._shared import (
    CHUNK_SIZE,
    LimitedStream,
    check_compose,
    check_range,
    download_to,
)
from common.storage.port import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectNotFound,
    check_key,
    check_prefix,
)

WRITE_BATCH = 1024 * 1024
"""put_stream gathers this many bytes before handing them to a worker thread to write."""

_RESERVED = ".vf-"
_META = ".vf-meta-"
_TMP = ".vf-tmp-"

_CONTENT_TYPES = {
    ".m3u8": PLAYLIST_TYPE,
    ".ts": SEGMENT_TYPE,
    ".mp4": "video/mp4",
    ".jpg": JPEG_TYPE,
    ".jpeg": JPEG_TYPE,
    ".json": "application/json",
}
"""For objects whose sidecar is missing or stale (written by hand, or before the rename)."""


def guess_content_type(key: str) -> str:
    suffix = os.path.splitext(key)[1].lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    return mimetypes.guess_type(key, strict=False)[0] or DEFAULT_CONTENT_TYPE


def _md5() -> Any:
    return hashlib.md5(usedforsecurity=False)


class _AtomicWriter:
    """A temp file beside the destination that becomes the object on `commit()`.

    Everything here blocks; callers run it in a worker thread.
    """

    def __init__(self, key: str, path: Path, content_type: str) -> None:
        self.key = key
        self.path = path
        self.content_type = content_type
        self.size = 0
        self._md5 = _md5()
        self._tmp: Path | None = None
        self._file: BinaryIO | None = None
        for attempt in range(3):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f"{_TMP}{uuid.uuid4().hex}"
            try:
                self._file = open(tmp, "xb")  # noqa: SIM115 - closed in commit/discard
            except FileNotFoundError:
                # a concurrent delete pruned the freshly made directory; make it again
                if attempt == 2:
                    raise
                continue
            self._tmp = tmp
            break

    def write(self, data: bytes | memoryview) -> None:
        assert self._file is not None
        self._file.write(data)
        self._md5.update(data)
        self.size += len(data)

    def commit(self) -> ObjectInfo:
        assert self._file is not None and self._tmp is not None
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            st = os.stat(self._tmp)
            etag = self._md5.hexdigest()
            meta = {
                "content_type": self.content_type,
                "etag": etag,
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "ino": st.st_ino,  # rename keeps the inode: this pins the sidecar to the data
            }
            # Sidecar first: until the data lands, the sidecar does not match the old file
            # (size/mtime differ) and readers fall back to derived metadata, never wrong data.
            meta_tmp = self.path.parent / f"{_TMP}{uuid.uuid4().hex}"
            try:
                meta_tmp.write_text(json.dumps(meta), encoding="utf-8")
                os.replace(meta_tmp, _meta_path(self.path))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    meta_tmp.unlink()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.discard()
            raise
        return ObjectInfo(self.key, self.size, etag, self.content_type)

    def discard(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()


def _meta_path(path: Path) -> Path:
    return path.parent / f"{_META}{path.name}"


@dataclass(frozen=True)
class OpenObject:
    """An object opened for reading (`LocalObjectStore.open_object`)."""

    info: ObjectInfo
    file: BinaryIO


OPENED_INFO_CACHE = 4096
"""How many objects' metadata `open_object` remembers (by file identity): a few hundred KB."""


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # key -> (size, mtime_ns, inode) of the file its info was read for, and the info
        self._opened_info: OrderedDict[str, tuple[tuple[int, int, int], ObjectInfo]] = OrderedDict()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return await asyncio.to_thread(lambda: self.root.is_dir() and os.access(self.root, os.W_OK))

    # ------------------------------------------------------------------ paths

    def _path(self, key: str) -> Path:
        check_key(key)
        if any(segment.startswith(_RESERVED) for segment in key.split("/")):
            raise ValueError(f"object key segments must not start with {_RESERVED!r}: {key!r}")
        return self.root.joinpath(*key.split("/"))

    def _info(self, key: str, path: Path) -> ObjectInfo:
        """Blocking: metadata of the object at `path`, from its sidecar when that matches."""
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        return self._info_of(key, path, st)

    def _info_of(self, key: str, path: Path, st: os.stat_result) -> ObjectInfo:
        if not S_ISREG(st.st_mode):
            raise ObjectNotFound(key)
        meta: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads(_meta_path(path).read_text(encoding="utf-8"))
        if (meta.get("size"), meta.get("mtime_ns"), meta.get("ino")) == (
            st.st_size,
            st.st_mtime_ns,
            st.st_ino,
        ):
            return ObjectInfo(key, st.st_size, str(meta["etag"]), str(meta["content_type"]))
        return ObjectInfo(
            key, st.st_size, f"{st.st_size:x}-{st.st_mtime_ns:x}", guess_content_type(key)
        )

    def _open(self, key: str, path: Path) -> BinaryIO:
        try:
            return open(path, "rb")  # the caller closes it
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None

    # ------------------------------------------------------------------ writes

    def _writer(self, key: str, content_type: str) -> _AtomicWriter:
        return _AtomicWriter(key, self._path(key), content_type or DEFAULT_CONTENT_TYPE)

    def _discard(self, writer: _AtomicWriter) -> None:
        writer.discard()
        self._prune(writer.path.parent)

    async def _write(
        self, key: str, content_type: str, fill: Callable[[_AtomicWriter], None]
    ) -> ObjectInfo:
        self._path(key)  # validate before going to a thread

        def run() -> ObjectInfo:
            writer = self._writer(key, content_type)
            try:
                fill(writer)
            except BaseException:
                self._discard(writer)
                raise
            return writer.commit()

        return await asyncio.to_thread(run)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        return await self._write(key, content_type, lambda w: w.write(data))

    async def put_file(self, key: str, path: Path, content_type: str) -> ObjectInfo:
        def copy(writer: _AtomicWriter) -> None:
            with open(path, "rb") as src:
                while chunk := src.read(CHUNK_SIZE):
                    writer.write(chunk)

        return await self._write(key, content_type, copy)

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str, *, max_size: int | None
    ) -> ObjectInfo:
        self._path(key)
        writer = await asyncio.to_thread(self._writer, key, content_type)
        async with contextlib.aclosing(LimitedStream(key, chunks, max_size)) as source:
            try:
                batch: list[bytes] = []
                batched = 0
                async for chunk in source:
                    if not chunk:
                        continue
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= WRITE_BATCH:
                        await asyncio.to_thread(_write_all, writer, batch)
                        batch, batched = [], 0
                if batch:
                    await asyncio.to_thread(_write_all, writer, batch)
                return await asyncio.to_thread(writer.commit)
            except BaseException:
                # shielded: a cancelled upload must still not leave its temp file behind
                await asyncio.shield(asyncio.to_thread(self._discard, writer))
                raise

    async def compose(self, key: str, sources: Sequence[str], content_type: str) -> ObjectInfo:
        """The sources copied one after the other into a temp file that becomes `key`; each
        source is opened before anything is written, so a missing one stores nothing."""
        paths = [self._path(source) for source in sources]
        self._path(key)

        def fill(writer: _AtomicWriter) -> None:
            opened: list[BinaryIO] = []
            try:
                for source, path in zip(sources, paths, strict=True):
                    opened.append(self._open(source, path))
                sizes = [os.fstat(f.fileno()).st_size for f in opened]
                check_compose(list(sources), sizes)
                for f in opened:
                    while chunk := f.read(WRITE_BATCH):
                        writer.write(chunk)
            finally:
                for f in opened:
                    f.close()

        check_compose(list(sources))
        return await self._write(key, content_type, fill)

    # ------------------------------------------------------------------ reads

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)

        def read() -> bytes:
            with self._open(key, path) as f:
                return f.read()

        return await asyncio.to_thread(read)

    async def download(self, key: str, path: Path) -> None:
        src = self._path(key)
        dest = Path(path)

        def copy() -> None:
            with self._open(key, src) as f:
                download_to(dest, lambda out: shutil.copyfileobj(f, out, CHUNK_SIZE))

        await asyncio.to_thread(copy)

    async def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        return await asyncio.to_thread(self._info, key, path)

    async def iter_range(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Bytes `start..end` inclusive, clamped to the object; nothing when `start` is past
        its end."""
        path = self._path(key)
        check_range(start, end)
        f = await asyncio.to_thread(self._open, key, path)
        try:
            await asyncio.to_thread(f.seek, start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                size = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
                chunk = await asyncio.to_thread(f.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            f.close()

    async def open_object(self, key: str) -> OpenObject:
        """The object opened for reading, with the metadata of the very file opened (the
        delivery hot path reads it with `os.pread`). A replace or delete that follows does not
        change what the open file holds. The caller closes `file`.

        Opened on the event loop, as nginx opens the files it serves: a path lookup and an
        fstat of a file being watched take microseconds, where a worker-thread hop cost ten
        times that and a GIL handoff. The metadata is remembered per file identity (size,
        mtime, inode), so a hot object's sidecar is read once; a new version is a new inode."""
        path = self._path(key)
        f = self._open(key, path)
        try:
            st = os.fstat(f.fileno())
            identity = (st.st_size, st.st_mtime_ns, st.st_ino)
            cached = self._opened_info.get(key)
            if cached is not None and cached[0] == identity:
                self._opened_info.move_to_end(key)
                return OpenObject(cached[1], f)
            info = self._info_of(key, path, st)
            self._opened_info[key] = (identity, info)
            if len(self._opened_info) > OPENED_INFO_CACHE:
                self._opened_info.popitem(last=False)
            return OpenObject(info, f)
        except BaseException:
            f.close()
            raise

    async def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> list[str]:
        # walk only the directory the prefix names, then filter by plain string prefix (S3)
        base_parts = prefix.split("/")[:-1]
        base = self.root.joinpath(*base_parts)
        if not base.is_dir():
            return []
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(_RESERVED)]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith(_RESERVED):
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        keys.sort()
        return keys

    # ------------------------------------------------------------------ deletes

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(self._delete_path, path)

    def _delete_path(self, path: Path) -> bool:
        deleted = False
        try:
            path.unlink()
            deleted = True
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            _meta_path(path).unlink()
        self._prune(path.parent)
        return deleted

    def _prune(self, directory: Path) -> None:
        """Remove now-empty directories up to (not including) the root."""
        root = self.root
        while directory != root and root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    async def delete_prefix(self, prefix: str) -> int:
        """Refuses an empty prefix: wiping the whole store is never what a caller means."""
        if not prefix:
            raise ValueError("delete_prefix needs a non-empty prefix")
        check_prefix(prefix)

        def run() -> int:
            return sum(self._delete_path(self._path(key)) for key in self._list(prefix))

        return await asyncio.to_thread(run)

    # ------------------------------------------------------------------ crash clean-up

    async def abort_stale_writes(self, older_than: timedelta) -> int:
        """Remove temporary files (and sidecars of objects never written) of writers that
        died, untouched for longer than `older_than`; returns how many writes that undid."""
        cutoff = time.time() - older_than.total_seconds()
        return await asyncio.to_thread(self._abort_stale_writes, cutoff)

    def _abort_stale_writes(self, cutoff: float) -> int:
        removed = 0
        touched: set[Path] = set()
        for dirpath, _dirnames, filenames in os.walk(self.root):
            directory = Path(dirpath)
            for name in filenames:
                path = directory / name
                if name.startswith(_TMP):
                    orphan = True
                elif name.startswith(_META):
                    orphan = not (directory / name[len(_META) :]).exists()
                else:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if orphan and path.lstat().st_mtime < cutoff:
                        path.unlink()
                        removed += name.startswith(_TMP)
                        touched.add(directory)
        for directory in sorted(touched, key=lambda d: len(d.parts), reverse=True):
            self._prune(directory)
        return removed


def _write_all(writer: _AtomicWriter, batch: list[bytes]) -> None:
    for chunk in batch:
        writer.write(chunk)
