"""What bench/delivery.py does through the public API, like the browser client and the admin
studio: make a clip, log in, upload it, wait until it is ready, and pick one segment."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

CLIP_SECONDS = 8
NOISE = "noise=alls=6:allf=t"  # temporal noise keeps the bit rate (and the segments) high
TARGET_BYTES = 2**20  # the segment size the load is about


def make_clip(dest: Path) -> Path:
    """A short 1080p30 clip with motion and noise (H.264 CRF 16 + AAC), cached in `dest`."""
    if dest.exists():
        return dest
    part = dest.with_suffix(".part.mp4")
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-y"),
            *("-f", "lavfi", "-i"),
            f"testsrc2=size=1920x1080:rate=30:duration={CLIP_SECONDS},{NOISE}",
            *("-f", "lavfi", "-i", f"sine=frequency=440:duration={CLIP_SECONDS}"),
            *("-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "128k", str(part)),
        ],
        check=True,
        timeout=300,
    )
    part.rename(dest)
    return dest


def login(base: str, email: str, password: str) -> httpx.Client:
    """A client holding the session cookies of `email`."""
    client = httpx.Client(base_url=base, timeout=60)
    response = client.post("/api/login/", json={"email": email, "password": password})
    if response.status_code != 200:
        raise RuntimeError(f"login at {base}: {response.status_code} {response.text}")
    return client


def upload(client: httpx.Client, clip: Path) -> int:
    """The admin endpoint's multipart upload; the new video's id."""
    with clip.open("rb") as f:
        response = client.post(
            "/api/admin/videos/",
            data={"title": "Bench clip", "description": "Delivery benchmark", "category": "Bench"},
            files={"file": (clip.name, f, "video/mp4")},
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
    if response.status_code != 201:
        raise RuntimeError(f"upload: {response.status_code} {response.text}")
    return int(response.json()["id"])


def wait_ready(client: httpx.Client, video_id: int, timeout: float = 300) -> list[str]:
    """Polls the admin endpoint until the video is ready; its renditions."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = client.get(f"/api/admin/videos/{video_id}/").json()
        if video.get("status") == "ready":
            return list(video["renditions"])
        if video.get("status") == "failed":
            raise RuntimeError(f"the transcode failed: {video.get('error')}")
        time.sleep(1)
    raise RuntimeError(f"video {video_id} not ready after {timeout:.0f} s")


@dataclass(frozen=True)
class Segment:
    rendition: str
    name: str
    data: bytes

    def path(self, video_id: int) -> str:
        return f"/api/video/{video_id}/{self.rendition}/{self.name}"


def segments_of(client: httpx.Client, video_id: int, renditions: list[str]) -> list[Segment]:
    """Every segment of every rendition, read through the API."""
    found = []
    for rendition in renditions:
        playlist = client.get(f"/api/video/{video_id}/{rendition}/index.m3u8")
        playlist.raise_for_status()
        for name in (x for x in playlist.text.splitlines() if x and not x.startswith("#")):
            segment = client.get(f"/api/video/{video_id}/{rendition}/{name}")
            segment.raise_for_status()
            found.append(Segment(rendition, name, segment.content))
    return found


def closest(segments: list[Segment], size: int = TARGET_BYTES) -> Segment:
    return min(segments, key=lambda s: abs(len(s.data) - size))


def check_bytes(url: str, cookie: str, expected: bytes) -> None:
    """One request before the load: 200 and exactly the segment's bytes."""
    response = httpx.get(url, cookies={"access_token": cookie}, timeout=30)
    if response.status_code != 200 or response.content != expected:
        raise RuntimeError(
            f"{url}: {response.status_code}, {len(response.content)} bytes "
            f"(expected 200 and {len(expected)} bytes): {response.text[:300]}"
        )
