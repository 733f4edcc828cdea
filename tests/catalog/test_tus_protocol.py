"""tus 1.0 on the catalog, in both wirings (the all-in-one's local directory and SQLite; S3,
moto in CI, and PostgreSQL): offsets across part boundaries, the refusals (409, 412, 415,
404, 413, 400), a cut PATCH that keeps exactly what arrived, a concurrent PATCH refused,
termination and expiry removing every part, and the finished upload becoming a video whose
source is the bytes sent. The state survives a catalog restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from common.db import utcnow
from common.storage import ObjectStore
from common.storage.local import LocalObjectStore
from tests.support.catalog import ADMIN, USER
from tests.support.http import assert_json_error
from tests.support.media import pattern
from tests.support.tus import (
    PART,
    TUS,
    MiB,
    TusCatalog,
    create,
    cut_after,
    head,
    metadata,
    pieces,
    tus_catalog,
)
from tests.support.waiting import eventually


@dataclass(frozen=True)
class Wiring:
    s3: Any  # tests.support.services.S3Target, or None: the local directory
    database_url: str  # empty: SQLite


@pytest.fixture(params=["local+sqlite", "s3+postgresql"])
def wiring(request: pytest.FixtureRequest) -> Wiring:
    if request.param == "s3+postgresql":
        return Wiring(request.getfixturevalue("s3_target"), request.getfixturevalue("postgres_url"))
    return Wiring(None, "")


@pytest.fixture
async def tus(wiring: Wiring, tmp_path: Path) -> AsyncIterator[TusCatalog]:
    store: ObjectStore
    if wiring.s3 is not None:
        from common.storage.s3 import S3ObjectStore

        t = wiring.s3
        store = S3ObjectStore(t.endpoint, t.access_key, t.secret_key, t.bucket, secure=False)
    else:
        store = LocalObjectStore(tmp_path / "objects")
    async with tus_catalog(tmp_path, store, database_url=wiring.database_url) as running:
        yield running


async def parts_left(tus: TusCatalog) -> list[str]:
    return await tus.store.list_keys("resumable/")


async def test_an_upload_in_pieces_becomes_a_video(tus: TusCatalog) -> None:
    data = pattern(2 * PART + 12345)
    created = await create(
        tus.client,
        len(data),
        headers=ADMIN,
        filename="Lecture 1.mp4",
        filetype="video/mp4",
        title="Lecture 1",
        description="The first one.",
        category="Lectures",
    )
    assert created.status_code == 201, created.text
    assert created.headers["tus-resumable"] == "1.0.0"
    url = created.headers["location"]
    assert url.startswith("/api/admin/uploads/") and not url.endswith("/")
    expires = parsedate_to_datetime(created.headers["upload-expires"])
    assert timedelta(hours=23) < expires - utcnow() <= timedelta(hours=24)

    first = await head(tus.client, url, ADMIN)
    assert first.status_code == 200
    assert first.headers["upload-offset"] == "0"
    assert first.headers["upload-length"] == str(len(data))
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["upload-metadata"] == created.request.headers["upload-metadata"]

    offset = 0
    for size in (3 * MiB, 4 * MiB):  # a tail only; then across the first part's end
        answer = await tus.patch(url, offset, pieces(data[offset : offset + size], 256 * 1024))
        assert answer.status_code == 204, answer.text
        offset += size
        assert answer.headers["upload-offset"] == str(offset)
        assert "videoflix-video-id" not in answer.headers
        assert await tus.offset(url) == offset

    last = await tus.patch(url, offset, data[offset:])
    assert last.status_code == 204, last.text
    assert last.headers["upload-offset"] == str(len(data))
    video_id = int(last.headers["videoflix-video-id"])

    done = await head(tus.client, url, ADMIN)
    assert done.headers["upload-offset"] == str(len(data))
    assert done.headers["videoflix-video-id"] == str(video_id)
    again = await tus.patch(url, len(data), b"")  # a client that lost the answer asks again
    assert again.status_code == 204
    assert again.headers["videoflix-video-id"] == str(video_id)

    video = (await tus.client.get(f"/api/admin/videos/{video_id}/", headers=ADMIN)).json()
    assert video["status"] == "processing"
    assert video["source_bytes"] == len(data)  # the composed source's size
    assert (video["title"], video["description"], video["category"]) == (
        "Lecture 1",
        "The first one.",
        "Lectures",
    )
    (job,) = await eventually(lambda: tus.jobs, lambda jobs: len(jobs) == 1)
    assert (job.video_id, job.source_key) == (video_id, f"sources/{video_id}/Lecture_1.mp4")
    assert job.has_custom_thumbnail is False
    assert await tus.store.get_bytes(job.source_key) == data
    assert (await tus.store.stat(job.source_key)).content_type == "video/mp4"
    assert await parts_left(tus) == []


async def test_refusals(tus: TusCatalog) -> None:
    url = await tus.create(10 * MiB)
    for version in (None, "0.2.2"):
        headers = {**ADMIN, "Content-Type": "application/offset+octet-stream"}
        headers |= {"Upload-Offset": "0"} | ({"Tus-Resumable": version} if version else {})
        answer = await tus.client.patch(url, content=b"abc", headers=headers)
        assert_json_error(answer, 412, detail=True)
        assert answer.headers["tus-version"] == "1.0.0"
        assert answer.headers["tus-resumable"] == "1.0.0"

    wrong_type = await tus.patch(url, 0, b"abc", **{"Content-Type": "application/octet-stream"})
    assert_json_error(wrong_type, 415, detail=True)
    assert wrong_type.headers["tus-resumable"] == "1.0.0"

    assert (await tus.patch(url, 0, b"abc")).status_code == 204
    mismatch = await tus.patch(url, 0, b"abc")
    assert_json_error(mismatch, 409, detail=True)
    assert await tus.offset(url) == 3
    assert_json_error(await tus.patch(url, 3, b"x", **{"Upload-Offset": "three"}), 400, detail=True)

    for unknown in ("/api/admin/uploads/" + "0" * 32, "/api/admin/uploads/nope"):
        assert_json_error(await tus.patch(unknown, 0, b"abc"), 404, detail=True)
        assert (await head(tus.client, unknown, ADMIN)).status_code == 404
        assert_json_error(await tus.client.delete(unknown, headers={**ADMIN, **TUS}), 404)

    too_large = await create(tus.client, 64 * MiB + 1, headers=ADMIN)
    assert_json_error(too_large, 413, detail=True)
    bad_fields = await create(tus.client, 10, headers=ADMIN, filename="a.mp4", title=" ")
    assert bad_fields.status_code == 400
    assert set(bad_fields.json()) == {"title", "category"}
    for header in ("title", "title !!!", "title a,title b"):
        malformed = await create(tus.client, 10, headers={**ADMIN, "Upload-Metadata": header})
        assert malformed.status_code == 400, header
    no_length = await tus.client.post("/api/admin/uploads/", headers={**ADMIN, **TUS})
    assert_json_error(no_length, 400, detail=True)
    assert_json_error(await create(tus.client, 10, headers=USER), 403, detail=True)


async def test_options_tells_what_the_server_speaks(tus: TusCatalog) -> None:
    discovery = await tus.client.options("/api/admin/uploads/", headers=ADMIN)  # no Tus-Resumable
    assert discovery.status_code == 204, discovery.text
    assert discovery.headers["tus-version"] == "1.0.0"
    assert discovery.headers["tus-resumable"] == "1.0.0"
    extensions = set(discovery.headers["tus-extension"].split(","))
    assert extensions == {"creation", "termination", "expiration", "checksum"}
    assert discovery.headers["tus-max-size"] == str(64 * MiB)  # the catalog's upload limit
    assert discovery.headers["tus-checksum-algorithm"].split(",") == ["md5", "sha1", "sha256"]
    too_large = await create(tus.client, int(discovery.headers["tus-max-size"]) + 1, headers=ADMIN)
    assert_json_error(too_large, 413, detail=True)  # the limit it names is the one enforced

    refused = await tus.client.options("/api/admin/uploads", headers=USER)
    assert_json_error(refused, 403, detail=True)
    assert refused.headers["tus-resumable"] == "1.0.0"


@pytest.mark.parametrize("cut_at", [1234567, PART + 3 * MiB // 2])
async def test_a_cut_patch_keeps_what_arrived_and_resumes(tus: TusCatalog, cut_at: int) -> None:
    data = pattern(2 * PART + 777, seed=3)
    url = await tus.create(len(data))
    cut = await tus.patch(url, 0, cut_after(data[:cut_at], 100_000))
    assert_json_error(cut, 400, detail=True)  # nobody hears it: the client is gone
    assert await tus.offset(url) == cut_at  # every byte that arrived, none more
    answer = await tus.patch(url, cut_at, pieces(data[cut_at:], 1 << 20))
    assert answer.status_code == 204, answer.text
    video_id = int(answer.headers["videoflix-video-id"])
    (job,) = await eventually(lambda: tus.jobs, lambda jobs: len(jobs) == 1)
    assert job.video_id == video_id
    assert await tus.store.get_bytes(job.source_key) == data
    assert await parts_left(tus) == []


async def test_a_second_patch_while_one_runs_is_refused(tus: TusCatalog) -> None:
    url = await tus.create(100_000)
    started, go_on = asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        started.set()
        yield b"a" * 1000
        await go_on.wait()
        yield b"b" * 1000

    running = asyncio.create_task(tus.patch(url, 0, slow()))
    await asyncio.wait_for(started.wait(), 10)
    assert_json_error(await tus.patch(url, 0, b"c" * 10), 409, detail=True)
    assert_json_error(await tus.client.delete(url, headers={**ADMIN, **TUS}), 409, detail=True)
    go_on.set()
    first = await running
    assert first.status_code == 204
    assert first.headers["upload-offset"] == "2000"
    assert (await tus.patch(url, 2000, b"d" * 10)).headers["upload-offset"] == "2010"


async def test_termination_removes_every_part(tus: TusCatalog) -> None:
    url = await tus.create(3 * PART)
    assert (await tus.patch(url, 0, pattern(PART + 100))).status_code == 204
    assert len(await parts_left(tus)) == 2  # a full part and the tail
    deleted = await tus.client.delete(url, headers={**ADMIN, **TUS})
    assert deleted.status_code == 204
    assert deleted.headers["tus-resumable"] == "1.0.0"
    assert await parts_left(tus) == []
    assert (await head(tus.client, url, ADMIN)).status_code == 404
    assert_json_error(await tus.patch(url, PART + 100, b"x"), 404, detail=True)


async def test_abandoned_uploads_expire_and_their_parts_are_removed(tus: TusCatalog) -> None:
    url = await tus.create(3 * PART)
    answer = await tus.patch(url, 0, pattern(PART + 5))
    expires = parsedate_to_datetime(answer.headers["upload-expires"])
    assert timedelta(hours=23) < expires - utcnow() <= timedelta(hours=24)
    later = utcnow() + timedelta(hours=24, minutes=1)
    tus.resumable.clock = lambda: later
    assert (await head(tus.client, url, ADMIN)).status_code == 404
    assert_json_error(await tus.patch(url, PART + 5, b"x"), 404, detail=True)
    fresh = await tus.create(10)  # made after the clock moved: not expired
    assert await tus.resumable.remove_expired() == 1
    assert await parts_left(tus) == []
    assert await tus.offset(fresh) == 0
    tus.resumable.clock = utcnow
    assert (await head(tus.client, url, ADMIN)).status_code == 404  # its row is gone too


async def test_metadata_is_checked_like_the_form(tus: TusCatalog) -> None:
    answer = await tus.client.post(
        "/api/admin/uploads/",
        headers={
            **ADMIN,
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(title="<b>", category="newest", filename="x.mp4"),
        },
    )
    assert answer.status_code == 400
    assert set(answer.json()) == {"title", "category"}


async def test_an_upload_survives_a_catalog_restart(tmp_path: Path) -> None:
    """The state is the row and the stored parts: a new catalog process on the same database
    and store resumes it, and its start-up clean-up of abandoned uploads leaves it alone."""
    data = pattern(PART + 4321, seed=5)
    async with tus_catalog(tmp_path, LocalObjectStore(tmp_path / "objects")) as before:
        url = await before.create(len(data))
        cut = await before.patch(url, 0, cut_after(data[: PART + 99], 65536))
        assert cut.status_code == 400
    restarted = LocalObjectStore(tmp_path / "objects")
    async with tus_catalog(tmp_path, restarted, stale_upload_seconds=0.001) as after:
        assert await after.offset(url) == PART + 99
        answer = await after.patch(url, PART + 99, data[PART + 99 :])
        assert answer.status_code == 204, answer.text
        (job,) = await eventually(lambda: after.jobs, lambda jobs: len(jobs) == 1)
        assert await restarted.get_bytes(job.source_key) == data
