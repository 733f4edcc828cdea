"""The object-store port's contract, run against both adapters.

The S3 adapter runs against a real S3 server (`s3_target`: moto's standalone server in CI, a
fresh bucket per test); it is skipped when none is configured.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import tracemalloc
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from common.storage import ObjectNotFound, ObjectStore
from common.storage.local import LocalObjectStore
from common.storage.port import ObjectTooLarge
from tests.support.media import pattern
from tests.support.stores import Target, store, target
from tests.support.waiting import eventually

KiB = 1024
MiB = 1024 * KiB
CHUNK = 64 * KiB
M3U8 = "application/vnd.apple.mpegurl"

__all__ = ["store", "target"]  # the fixtures, parametrised over both adapters


async def chunked(
    total: int, chunk: int = CHUNK, digest: hashlib._Hash | None = None
) -> AsyncIterator[bytes]:
    """`total` bytes of varied content in `chunk`-sized pieces, made on the fly."""
    base = os.urandom(chunk)
    sent = 0
    index = 0
    while sent < total:
        size = min(chunk, total - sent)
        piece = index.to_bytes(8, "big") + base[8:size] if size > 8 else base[:size]
        if digest is not None:
            digest.update(piece)
        yield piece
        sent += size
        index += 1


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


async def assert_absent(store: ObjectStore, key: str) -> None:
    with pytest.raises(ObjectNotFound):
        await store.stat(key)
    assert key not in await store.list_keys("")


# ---------------------------------------------------------------- basics


async def test_ping(store: ObjectStore) -> None:
    assert await store.ping() is True  # type: ignore[attr-defined]


async def test_start_is_idempotent(store: ObjectStore) -> None:
    await store.put_bytes("a/b.txt", b"x", "text/plain")
    await store.start()
    assert await store.get_bytes("a/b.txt") == b"x"


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("hls/v1/master.m3u8", M3U8),
        ("hls/v1/480p/segment_00001.ts", "video/MP2T"),
        ("thumbnails/v1.jpg", "image/jpeg"),
        ("sources/v1/no-extension", "application/x-custom"),  # not derivable from the name
    ],
)
async def test_put_get_bytes_round_trip(store: ObjectStore, key: str, content_type: str) -> None:
    data = pattern(3000)
    info = await store.put_bytes(key, data, content_type)
    assert (info.key, info.size, info.content_type) == (key, len(data), content_type)
    assert info.etag

    assert await store.get_bytes(key) == data
    stat = await store.stat(key)
    assert (stat.key, stat.size, stat.etag, stat.content_type) == (
        key,
        len(data),
        info.etag,
        content_type,
    )


async def test_overwrite_replaces_content_and_etag(store: ObjectStore) -> None:
    first = await store.put_bytes("k/obj.bin", b"first version", "application/octet-stream")
    second = await store.put_bytes("k/obj.bin", b"second, longer version", "text/plain")
    assert await store.get_bytes("k/obj.bin") == b"second, longer version"
    stat = await store.stat("k/obj.bin")
    assert stat.etag == second.etag != first.etag
    assert (stat.size, stat.content_type) == (22, "text/plain")


async def test_etag_is_stable(store: ObjectStore) -> None:
    await store.put_bytes("e/x.bin", b"same", "application/octet-stream")
    assert (await store.stat("e/x.bin")).etag == (await store.stat("e/x.bin")).etag


async def test_empty_object(store: ObjectStore) -> None:
    info = await store.put_bytes("empty/x.bin", b"", "application/octet-stream")
    assert info.size == 0
    assert await store.get_bytes("empty/x.bin") == b""
    assert (await store.stat("empty/x.bin")).size == 0
    assert await collect(store.iter_range("empty/x.bin")) == b""


async def test_missing_object(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound):
        await store.stat("nope/missing.bin")
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("nope/missing.bin")
    with pytest.raises(ObjectNotFound):
        await store.download("nope/missing.bin", tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    with pytest.raises(ObjectNotFound):
        await collect(store.iter_range("nope/missing.bin"))


async def test_object_not_found_is_a_key_error(store: ObjectStore) -> None:
    with pytest.raises(KeyError):
        await store.stat("nope")


# ---------------------------------------------------------------- ranges

SIZE = 1000


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 0),  # first byte
        (0, 99),
        (123, 456),  # middle
        (SIZE - 1, SIZE - 1),  # last byte
        (SIZE - 10, None),  # open-ended suffix
        (0, None),  # whole object
        (0, SIZE - 1),
        (500, SIZE + 500),  # end past the object: clamped
    ],
)
async def test_iter_range(store: ObjectStore, start: int, end: int | None) -> None:
    data = pattern(SIZE, seed=3)
    await store.put_bytes("r/obj.bin", data, "application/octet-stream")
    got = await collect(store.iter_range("r/obj.bin", start, end))
    assert got == data[start : None if end is None else end + 1]


async def test_iter_range_streams_in_chunks(store: ObjectStore) -> None:
    data = pattern(3 * MiB + 17)
    await store.put_bytes("r/big.bin", data, "application/octet-stream")
    chunks = [c async for c in store.iter_range("r/big.bin", 1, len(data) - 2)]
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= MiB
    assert b"".join(chunks) == data[1:-1]


async def test_iter_range_early_close_then_reuse(store: ObjectStore) -> None:
    data = pattern(2 * MiB)
    await store.put_bytes("r/big.bin", data, "application/octet-stream")
    for _ in range(12):  # more than the connection pool holds, if closing leaked any
        gen = store.iter_range("r/big.bin")
        first = await anext(gen)  # type: ignore[call-overload]
        assert data.startswith(first)
        await gen.aclose()  # type: ignore[attr-defined]
    assert await store.get_bytes("r/big.bin") == data


async def test_iter_range_start_past_end_yields_nothing(store: ObjectStore) -> None:
    await store.put_bytes("r/small.bin", b"abc", "application/octet-stream")
    assert await collect(store.iter_range("r/small.bin", 10)) == b""


async def test_iter_range_rejects_inverted_range(store: ObjectStore) -> None:
    await store.put_bytes("r/small.bin", b"abc", "application/octet-stream")
    with pytest.raises(ValueError):
        await collect(store.iter_range("r/small.bin", 2, 1))


# ---------------------------------------------------------------- streams


async def test_put_stream_large_round_trip_in_bounded_memory(
    store: ObjectStore, target: Target
) -> None:
    total = 25 * MiB + 12345  # not a multiple of the chunk or part size
    if target.kind == "s3":
        # The S3 adapter peaks at about three multipart parts, however big the object; with
        # the smallest part S3 allows that is well below this object's size.
        store.part_size = 5 * MiB  # type: ignore[attr-defined]
        limit = int(3.5 * 5 * MiB)
    else:
        limit = 4 * MiB  # a write batch or so
    sent = hashlib.sha256()
    tracemalloc.start()
    try:
        info = await store.put_stream(
            "sources/v1/big.mp4", chunked(total, digest=sent), "video/mp4", max_size=None
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (info.size, info.content_type) == (total, "video/mp4")

    assert peak < limit, f"peak {peak / MiB:.1f} MiB while streaming {total / MiB:.0f} MiB"

    received = hashlib.sha256()
    async for chunk in store.iter_range("sources/v1/big.mp4"):
        received.update(chunk)
    assert received.hexdigest() == sent.hexdigest()
    stat = await store.stat("sources/v1/big.mp4")
    assert (stat.size, stat.etag, stat.content_type) == (total, info.etag, "video/mp4")


@pytest.mark.parametrize("total", [0, 1, CHUNK - 1, 3 * CHUNK + 5])
async def test_put_stream_small(store: ObjectStore, total: int) -> None:
    sent = hashlib.sha256()
    info = await store.put_stream(
        "s/small.bin", chunked(total, digest=sent), "application/octet-stream", max_size=total
    )
    assert info.size == total
    assert hashlib.sha256(await store.get_bytes("s/small.bin")).hexdigest() == sent.hexdigest()


async def test_put_stream_skips_empty_chunks(store: ObjectStore) -> None:
    async def gen() -> AsyncIterator[bytes]:
        for piece in (b"", b"ab", b"", b"cd", b""):
            yield piece

    info = await store.put_stream("s/e.bin", gen(), "text/plain", max_size=None)
    assert info.size == 4
    assert await store.get_bytes("s/e.bin") == b"abcd"


@pytest.mark.parametrize(
    ("total", "max_size"),
    [
        (4 * KiB, KiB),  # never reaches a multipart upload on S3
        (12 * MiB, 11 * MiB),  # S3: one part already uploaded; the upload must be aborted
    ],
)
async def test_put_stream_over_max_size_stores_nothing(
    store: ObjectStore, target: Target, total: int, max_size: int
) -> None:
    key = "up/too-big.mp4"
    with pytest.raises(ObjectTooLarge):
        await store.put_stream(key, chunked(total), "video/mp4", max_size=max_size)
    await assert_absent(store, key)
    assert await store.list_keys("up/") == []
    await assert_nothing_left_behind(target)


async def test_put_stream_at_max_size_is_fine(store: ObjectStore) -> None:
    info = await store.put_stream("up/exact.bin", chunked(5000), "x/y", max_size=5000)
    assert info.size == 5000


async def test_put_stream_source_error_stores_nothing(store: ObjectStore, target: Target) -> None:
    async def failing() -> AsyncIterator[bytes]:
        async for chunk in chunked(11 * MiB):
            yield chunk
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        await store.put_stream("up/broken.bin", failing(), "x/y", max_size=None)
    await assert_absent(store, "up/broken.bin")
    await assert_nothing_left_behind(target)


async def test_put_stream_cancelled_stores_nothing(store: ObjectStore, target: Target) -> None:
    taken, release = asyncio.Event(), asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        yield b"partial data"
        taken.set()  # the store took the first chunk and asks for more
        await release.wait()
        yield b"never"

    task = asyncio.create_task(store.put_stream("up/c.bin", stalling(), "x/y", max_size=None))
    await asyncio.wait_for(taken.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_absent(store, "up/c.bin")
    await assert_nothing_left_behind(target)


async def test_readers_never_see_a_partial_object(store: ObjectStore) -> None:
    halfway = asyncio.Event()
    release = asyncio.Event()

    async def gen() -> AsyncIterator[bytes]:
        async for chunk in chunked(2 * MiB):
            yield chunk
        halfway.set()
        await release.wait()
        yield b"tail"

    await store.put_bytes("atomic/x.bin", b"old", "text/plain")
    task = asyncio.create_task(store.put_stream("atomic/x.bin", gen(), "x/new", max_size=None))
    await asyncio.wait_for(halfway.wait(), 10)
    await asyncio.sleep(0.1)
    assert await store.get_bytes("atomic/x.bin") == b"old"
    assert (await store.stat("atomic/x.bin")).content_type == "text/plain"
    assert await store.list_keys("atomic/") == ["atomic/x.bin"]
    release.set()
    info = await task
    assert info.size == 2 * MiB + 4
    assert (await store.stat("atomic/x.bin")).content_type == "x/new"


async def assert_nothing_left_behind(target: Target) -> None:
    """No temp files (local) and no unfinished multipart uploads (S3)."""
    assert await half_written(target) == []


async def half_written(target: Target) -> list[tuple[str, int]]:
    """Unfinished writes, and what each holds: temp files and their sizes (local), multipart
    uploads and their numbers of parts (S3)."""
    if target.kind == "local":
        assert target.root is not None
        return [(str(p), p.stat().st_size) for p in target.root.rglob(".vf-tmp-*")]
    import boto3

    t = target.s3
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{t.endpoint}",  # type: ignore[attr-defined]
        aws_access_key_id=t.access_key,  # type: ignore[attr-defined]
        aws_secret_access_key=t.secret_key,  # type: ignore[attr-defined]
        region_name="us-east-1",
    )
    bucket = t.bucket  # type: ignore[attr-defined]

    def uploads() -> list[tuple[str, int]]:
        found = []
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            key, upload_id = upload["Key"], upload["UploadId"]
            parts = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
            found.append((key, len(parts.get("Parts", []))))
        return found

    return await asyncio.to_thread(uploads)


# ---------------------------------------------------------------- crash clean-up

ROOT = Path(__file__).resolve().parents[2]


async def kill_mid_write(target: Target, key: str) -> None:
    """Stream into `key` from another process (tests/common/dying_writer.py) and SIGKILL it
    once data is stored half-written: a catalog dying mid-upload."""
    if target.kind == "local":
        where = [str(target.root), key]
    else:
        t = target.s3
        where = [t.endpoint, t.access_key, t.secret_key, t.bucket, key]  # type: ignore[attr-defined]
    writer = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.common.dying_writer", target.kind, *where],
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert writer.stdout is not None
    try:
        assert await asyncio.wait_for(writer.stdout.readline(), 60) == b"stalled\n"
        await eventually(
            lambda: half_written(target),
            lambda found: any(stored for _, stored in found),
            within=30,
            failure="the writer never stored anything",
        )
    finally:
        writer.kill()
        await writer.wait()


async def test_what_a_dead_writer_left_is_cleared_away(store: ObjectStore, target: Target) -> None:
    await store.put_bytes("up/kept.bin", b"kept", "text/plain")
    await kill_mid_write(target, "up/half.mp4")
    # a young write may be a live one (another process of a shared store): left alone
    assert await store.abort_stale_writes(timedelta(hours=1)) == 0
    assert len(await half_written(target)) == 1
    await asyncio.sleep(1.1)  # past the last write, at the second timestamps of some S3 servers

    assert await store.abort_stale_writes(timedelta(seconds=1)) == 1
    await assert_nothing_left_behind(target)
    await assert_absent(store, "up/half.mp4")
    assert await store.list_keys("") == ["up/kept.bin"]
    assert await store.get_bytes("up/kept.bin") == b"kept"
    assert await store.abort_stale_writes(timedelta(0)) == 0


async def test_clearing_away_an_empty_store_is_fine(store: ObjectStore) -> None:
    assert await store.abort_stale_writes(timedelta(0)) == 0


# ---------------------------------------------------------------- files


async def test_put_file_and_download(store: ObjectStore, tmp_path: Path) -> None:
    data = pattern(300 * KiB + 7)
    src = tmp_path / "in" / "segment.ts"
    src.parent.mkdir()
    src.write_bytes(data)
    info = await store.put_file("hls/v1/720p/segment_00000.ts", src, "video/MP2T")
    assert (info.size, info.content_type) == (len(data), "video/MP2T")
    assert (await store.stat("hls/v1/720p/segment_00000.ts")).etag == info.etag

    dest = tmp_path / "out" / "nested" / "copy.ts"
    await store.download("hls/v1/720p/segment_00000.ts", dest)
    assert dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["copy.ts"]  # no temp file left

    dest.write_bytes(b"stale")  # download replaces an existing file
    await store.download("hls/v1/720p/segment_00000.ts", dest)
    assert dest.read_bytes() == data


# ---------------------------------------------------------------- listing and deleting


KEYS = ["a/1.txt", "a/2.txt", "a/b/3.txt", "ab/4.txt", "b/5.txt", "top.txt"]


async def put_all(store: ObjectStore, keys: list[str]) -> None:
    await asyncio.gather(*(store.put_bytes(k, k.encode(), "text/plain") for k in keys))


async def test_list_keys_by_prefix(store: ObjectStore) -> None:
    await put_all(store, KEYS)
    assert await store.list_keys("a/") == ["a/1.txt", "a/2.txt", "a/b/3.txt"]
    assert await store.list_keys("a/b/") == ["a/b/3.txt"]
    assert await store.list_keys("a") == ["a/1.txt", "a/2.txt", "a/b/3.txt", "ab/4.txt"]
    assert await store.list_keys("a/1") == ["a/1.txt"]
    assert await store.list_keys("") == sorted(KEYS)
    assert await store.list_keys("zzz/") == []


async def test_delete(store: ObjectStore) -> None:
    await put_all(store, ["d/x.txt", "d/y.txt"])
    await store.delete("d/x.txt")
    await assert_absent(store, "d/x.txt")
    assert await store.list_keys("d/") == ["d/y.txt"]
    await store.delete("d/x.txt")  # already gone: fine
    await store.delete("never/existed.txt")


async def test_delete_prefix_removes_only_that_prefix(store: ObjectStore) -> None:
    keys = [
        "hls/v1/master.m3u8",
        "hls/v1/480p/index.m3u8",
        "hls/v1/480p/segment_00000.ts",
        "hls/v10/master.m3u8",
        "sources/v1/movie.mp4",
        "thumbnails/v1.jpg",
    ]
    await put_all(store, keys)
    assert await store.delete_prefix("hls/v1/") == 3
    assert await store.list_keys("") == sorted(
        ["hls/v10/master.m3u8", "sources/v1/movie.mp4", "thumbnails/v1.jpg"]
    )
    assert await store.delete_prefix("hls/v1/") == 0
    assert await store.delete_prefix("nothing/here/") == 0
    # the same key can be written again under the emptied prefix
    await store.put_bytes("hls/v1/master.m3u8", b"#EXTM3U", M3U8)
    assert await store.list_keys("hls/v1/") == ["hls/v1/master.m3u8"]


async def test_delete_prefix_in_batches(
    store: ObjectStore, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    if target.kind == "s3":
        monkeypatch.setattr("common.storage.s3.DELETE_BATCH", 50)  # not 1000: keep it quick
    keys = [f"many/{i:04d}.ts" for i in range(120)]
    sem = asyncio.Semaphore(32)

    async def put(key: str) -> None:
        async with sem:
            await store.put_bytes(key, b"x", "video/MP2T")

    await asyncio.gather(*(put(k) for k in keys))
    await store.put_bytes("other/keep.ts", b"x", "video/MP2T")
    assert await store.delete_prefix("many/") == len(keys)
    assert await store.list_keys("") == ["other/keep.ts"]


async def test_delete_prefix_refuses_empty_prefix(store: ObjectStore) -> None:
    await put_all(store, ["keep/me.txt"])
    with pytest.raises(ValueError):
        await store.delete_prefix("")
    assert await store.list_keys("") == ["keep/me.txt"]


# ---------------------------------------------------------------- keys


BAD_KEYS = ["../x", "a/../../x", "/abs", "/etc/passwd", "a//b", "a/", "", "a\\b", "./a", "a/./b"]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_refuses_unsafe_keys(store: ObjectStore, key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await store.put_bytes(key, b"x", "text/plain")
    with pytest.raises(ValueError):
        await store.put_stream(key, chunked(10), "text/plain", max_size=None)
    with pytest.raises(ValueError):
        await store.get_bytes(key)
    with pytest.raises(ValueError):
        await store.stat(key)
    with pytest.raises(ValueError):
        await store.delete(key)
    with pytest.raises(ValueError):
        await collect(store.iter_range(key))


@pytest.mark.parametrize("prefix", ["../", "/abs/", "a//", "a\\b/"])
async def test_refuses_unsafe_prefixes(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        await store.list_keys(prefix)
    with pytest.raises(ValueError):
        await store.delete_prefix(prefix)


# ---------------------------------------------------------------- local adapter only


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_local_nothing_escapes_the_root(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root")
    await store.start()
    for key in ["../x", "/abs", "a//b"]:
        with pytest.raises(ValueError):
            await store.put_bytes(key, b"x", "text/plain")
    assert entries(tmp_path) == ["root"]
    assert entries(tmp_path / "root") == []


async def test_local_reserved_names_are_refused_and_hidden(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root")
    await store.start()
    for key in [".vf-meta-x", "a/.vf-tmp-123"]:
        with pytest.raises(ValueError):
            await store.put_bytes(key, b"x", "text/plain")
    await store.put_bytes("a/x.bin", b"x", "application/x-thing")
    assert await store.list_keys("") == ["a/x.bin"]  # the sidecar is not listed


async def test_local_content_type_from_extension_without_sidecar(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = LocalObjectStore(root)
    await store.start()
    (root / "hls" / "v1").mkdir(parents=True)
    (root / "hls" / "v1" / "index.m3u8").write_bytes(b"#EXTM3U")
    (root / "hls" / "v1" / "seg.ts").write_bytes(b"\x47")
    (root / "hls" / "v1" / "blob").write_bytes(b"?")
    assert (await store.stat("hls/v1/index.m3u8")).content_type == M3U8
    assert (await store.stat("hls/v1/seg.ts")).content_type == "video/MP2T"
    assert (await store.stat("hls/v1/blob")).content_type == "application/octet-stream"
    first = await store.stat("hls/v1/seg.ts")
    assert (await store.stat("hls/v1/seg.ts")).etag == first.etag


async def test_local_delete_prunes_empty_directories(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = LocalObjectStore(root)
    await store.start()
    await store.put_bytes("hls/v1/480p/index.m3u8", b"#EXTM3U", M3U8)
    await store.put_bytes("hls/v2/master.m3u8", b"#EXTM3U", M3U8)
    await store.delete_prefix("hls/v1/")
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "hls",
        "hls/v2",
        "hls/v2/.vf-meta-master.m3u8",
        "hls/v2/master.m3u8",
    ]


async def test_local_directory_is_not_an_object(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root")
    await store.start()
    await store.put_bytes("dir/file.txt", b"x", "text/plain")
    with pytest.raises(ObjectNotFound):
        await store.stat("dir")
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("dir")
    with pytest.raises(ObjectNotFound):
        await store.stat("dir/file.txt/below")
