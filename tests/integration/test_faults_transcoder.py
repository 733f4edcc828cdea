"""The transcoder killed with SIGKILL in the middle of a job, then started again.

No proxy here: the process itself dies (`kill -9`), as under the OOM killer or a node failure.
Its broker connection dies with it, so the unacknowledged job goes back to the queue, and the
new process picks it up. FFmpeg children must not outlive their worker, and nothing the dead
job half-wrote may stay behind (objects in S3, work folders).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from minio import Minio

from tests.support.faults import StackEnv, browser
from tests.support.integration import ADMIN_EMAIL, ADMIN_PASSWORD, ORIGIN, Stack
from tests.support.media import make_clip
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
LIMIT = 150


@pytest.fixture
def work_root(tmp_path: Path) -> Path:
    root = tmp_path / "transcoder-work"
    root.mkdir()
    return root


@pytest.fixture
def stack_env(work_root: Path) -> StackEnv:
    def env(service: str, _current: dict[str, str]) -> dict[str, str]:
        return {"TRANSCODE_WORK_DIR": str(work_root)} if service == "transcoder" else {}

    return env


def descendants(pid: int) -> Iterator[int]:
    """The live processes below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...; comm may hold spaces and parentheses
            state, ppid = stat.rpartition(")")[2].split()[:2]
            if state != "Z":
                children.setdefault(int(ppid), []).append(int(entry.name))
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        yield child
        todo.extend(children.get(child, []))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def is_ffmpeg(pid: int) -> bool:
    try:
        return b"ffmpeg" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def bucket_keys(stack: Stack) -> list[str]:
    s3 = stack.s3
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
    return [o.object_name for o in client.list_objects(s3.bucket, recursive=True)]


def referenced_hls(stack: Stack, video_id: int) -> set[str]:
    """Every object the video's playlists name, the playlists included."""
    s3 = stack.s3
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
    base = f"hls/{video_id}/"
    read = lambda key: client.get_object(s3.bucket, key).read().decode()  # noqa: E731
    keys = {f"{base}master.m3u8"}
    for rendition in re.findall(r"^(\S+/index\.m3u8)$", read(f"{base}master.m3u8"), re.M):
        keys.add(base + rendition)
        folder = base + rendition.rpartition("/")[0] + "/"
        for line in read(base + rendition).splitlines():
            if line and not line.startswith("#"):
                keys.add(folder + line)
    return keys


async def test_transcoder_killed_mid_job(stack: Stack, tmp_path: Path, work_root: Path) -> None:
    transcoder = stack.processes["transcoder"]
    assert transcoder.process is not None
    clip = await asyncio.to_thread(make_clip, tmp_path / "long.mp4", size="1280x720", seconds=20)
    progress: list[int] = []
    async with asyncio.timeout(LIMIT), browser(stack.gateway_url, ORIGIN) as client:
        login = await client.post(
            "/api/login/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        with clip.open("rb") as fh:
            created = await client.post(
                "/api/admin/videos/",
                data={"title": "Long", "description": "d", "category": "c"},
                files={"file": (clip.name, fh, "video/mp4")},
                timeout=httpx.Timeout(60),
            )
        assert created.status_code == 201, created.text
        video_id = created.json()["id"]

        async def detail() -> dict:  # type: ignore[type-arg]
            body = (await client.get(f"/api/admin/videos/{video_id}/")).json()
            assert body["status"] != "failed", body
            progress.append(body["progress"])
            return body

        await eventually(detail, lambda b: b["progress"] >= 10, within=90, interval=0.2)
        ffmpegs = [p for p in descendants(transcoder.process.pid) if is_ffmpeg(p)]
        assert ffmpegs, "FFmpeg is running for the job"
        transcoder.process.kill()  # SIGKILL
        await asyncio.to_thread(transcoder.process.wait)
        orphans = await eventually(
            lambda: [p for p in ffmpegs if alive(p)],
            lambda left: not left,
            within=5,
            interval=0.1,
            failure=lambda left: f"FFmpeg {left} outlived its SIGKILLed worker",
        )
        assert orphans == []

        await asyncio.to_thread(transcoder.start)
        await asyncio.to_thread(transcoder.wait_ready)
        ready = await eventually(
            detail, lambda b: b["status"] == "ready", within=LIMIT - 40, interval=0.5
        )
        assert ready["renditions"] and ready["error"] is None

    assert progress == sorted(progress), progress  # never went back, not even on the redo
    catalog_log = stack.processes["catalog"].log_path.read_text(errors="replace")
    assert catalog_log.count("video ready") == 1
    keys = await asyncio.to_thread(bucket_keys, stack)
    hls = {k for k in keys if k.startswith("hls/")}
    assert hls == await asyncio.to_thread(referenced_hls, stack, video_id)  # no orphan object
    others = {k for k in keys if not k.startswith("hls/")}
    assert all(k.startswith((f"sources/{video_id}/", "thumbnails/")) for k in others), others
    left = await asyncio.to_thread(lambda: [p.name for p in work_root.iterdir()])
    assert left == []  # the dead job's work folder was swept
    assert transcoder.process is not None
    assert not [p for p in descendants(transcoder.process.pid) if is_ffmpeg(p)]
