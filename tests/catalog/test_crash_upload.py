"""A catalog that dies in the middle of an upload leaves no orphan behind once it is back:
neither the video's row nor the half-written source (a temporary file here, an open
multipart upload on S3: the store's side is proven for both in the object-store contract)."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from catalog.models import Video
from common.db import Database
from tests.support.catalog import running_catalog

ROOT = Path(__file__).resolve().parents[2]


async def die_mid_write(objects: Path, key: str) -> None:
    """Stream into `key` from another process and SIGKILL it half-way (dying_writer.py)."""
    writer = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.common.dying_writer", "local", str(objects), key],
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert writer.stdout is not None
    try:
        assert await asyncio.wait_for(writer.stdout.readline(), 60) == b"stalled\n"
    finally:
        writer.kill()
        await writer.wait()


def temp_files(objects: Path) -> list[Path]:
    return sorted(objects.rglob(".vf-tmp-*"))


async def test_an_upload_cut_off_by_a_crash_leaves_nothing_after_restart(tmp_path: Path) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    async with running_catalog(tmp_path) as catalog:
        database = Database(catalog.settings.database_url_for("catalog"))
        async with database.sessionmaker() as db:
            video = Video(
                status="uploading",
                thumbnail_version="v" * 22,
                created_at=long_ago,
                updated_at=long_ago,
            )
            db.add(video)
            await db.commit()
        await database.dispose()
    # the process that received the upload died while storing its source
    objects = tmp_path / "objects"
    await die_mid_write(objects, f"sources/{video.id}/film.mp4")
    assert len(temp_files(objects)) == 1
    for path in temp_files(objects):
        os.utime(path, (long_ago.timestamp(), long_ago.timestamp()))

    async with running_catalog(tmp_path) as restarted:
        database = Database(restarted.settings.database_url_for("catalog"))
        async with database.sessionmaker() as db:
            assert (await db.scalars(select(Video))).all() == []
        await database.dispose()
        assert await restarted.all_keys() == []
        assert temp_files(objects) == [], "the half-written source is still stored"
