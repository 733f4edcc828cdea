"""Fixtures of the transcoder tests: generated clips, fast settings, and a job runner that
drives the real handler over LocalObjectStore + InMemoryBus and records what it did.

Two tool sets: "system" (Debian's ffmpeg and ffprobe, which CI installs) and "bundled"
(imageio-ffmpeg's build and the PyAV prober: what a machine with Python only uses). The
bundled set is forced explicitly, since the system's would win on a machine that has both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from common.bus.memory import InMemoryBus
from common.bus.topology import CATALOG, TRANSCODER
from common.events import Envelope, VideoUploaded
from common.storage.local import LocalObjectStore
from tests.support.media import FFMPEG, FFPROBE, ffmpeg, make_clip, require_system_ffmpeg
from transcoder.config import TranscoderSettings
from transcoder.consumer import Transcoder
from transcoder.probe import PyAVProber
from transcoder.tools import FROM_SETTING_FFMPEG, NO_FFPROBE, Tools, bundled_ffmpeg


def fast_settings(work_dir: Path, **overrides: Any) -> TranscoderSettings:
    """Real FFmpeg, cheapest encoder settings, 1 s segments (several per short clip)."""
    values: dict[str, Any] = {
        "ffmpeg_path": FFMPEG,
        "ffprobe_path": FFPROBE,
        "transcode_preset": "ultrafast",
        "transcode_x264_params": "",
        "transcode_segment_seconds": 1,
        "transcode_work_dir": work_dir,
        "transcode_timeout_seconds": 120,
    }
    values.update(overrides)
    return TranscoderSettings(**values)


BUNDLED_FFMPEG = bundled_ffmpeg() or "imageio-ffmpeg has no build for this machine"
SYSTEM, BUNDLED = "system", "bundled"


def bundled_settings(work_dir: Path, **overrides: Any) -> TranscoderSettings:
    """`fast_settings` with FFMPEG_PATH = imageio-ffmpeg's binary and no FFPROBE_PATH."""
    return fast_settings(work_dir, ffmpeg_path=BUNDLED_FFMPEG, ffprobe_path=None, **overrides)


def bundled_tools() -> Tools:
    """imageio-ffmpeg's FFmpeg and the PyAV prober, as on a machine without FFmpeg."""
    return Tools(BUNDLED_FFMPEG, FROM_SETTING_FFMPEG, PyAVProber(), NO_FFPROBE)


# ---------------------------------------------------------------------- clips

CLIPS: dict[str, dict[str, Any]] = {
    "1080p": {"size": "1920x1080"},
    "720p": {"size": "1280x720"},
    "portrait": {"size": "720x1280"},
    # testsrc2 makes even sizes only; 4:4:4 H.264 can store odd ones
    "odd": {
        "size": "1280x720",
        "pix_fmt": "yuv444p",
        "video_filter": "format=yuv444p,scale=1281:721,setsar=1",
    },
    "small_odd": {
        "size": "854x480",
        "pix_fmt": "yuv444p",
        "video_filter": "format=yuv444p,scale=853:479,setsar=1",
    },
    "tiny": {"size": "320x240"},
    "no_audio": {"size": "640x360", "audio": False},
    "anamorphic": {"size": "720x576", "video_filter": "setsar=64/45"},
}
"""Name -> `make_clip` arguments; every clip is 2 s at 25 fps."""


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clip(clip_dir: Path) -> Callable[[str], Path]:
    """Make (once per session) and return the named clip."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        require_system_ffmpeg()  # every clip's outcome is checked with the system's tools
        if name not in made:
            made[name] = _make(name, clip_dir)
        return made[name]

    return get


def _make(name: str, where: Path) -> Path:
    if name in CLIPS:
        return make_clip(where / f"{name}.mp4", **CLIPS[name])
    if name == "rotated":  # stored landscape, displayed portrait (phone footage)
        plain = make_clip(where / "rotated-plain.mp4", size="1280x720")
        dest = where / "rotated.mp4"
        ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(dest))
        return dest
    if name == "black_start":  # 1.5 s of black, then picture
        return make_clip(
            where / "black_start.mp4",
            size="640x360",
            seconds=3,
            video_filter="fade=type=in:start_time=1.5:duration=0.1",
        )
    if name == "faststart_half":  # index first, data cut off half-way
        full = make_clip(
            where / "faststart.mp4", size="320x240", seconds=3, extra=("-movflags", "+faststart")
        )
        return _half(full, where / "faststart_half.mp4")
    if name == "faststart_tail_cut":  # only the last few frames lost
        full = make_clip(
            where / "faststart_tail.mp4",
            size="320x240",
            seconds=3,
            extra=("-movflags", "+faststart"),
        )
        data = full.read_bytes()
        dest = where / "faststart_tail_cut.mp4"
        dest.write_bytes(data[: len(data) * 97 // 100])
        return dest
    if name == "moov_end_half":  # index at the end, never written
        full = make_clip(where / "moov_end.mp4", size="320x240", seconds=3)
        return _half(full, where / "moov_end_half.mp4")
    if name == "text":
        dest = where / "notes.mp4"
        dest.write_text("This is a shopping list, not a video.\nmilk\neggs\n")
        return dest
    if name == "audio_only":
        dest = where / "tone.m4a"
        ffmpeg("-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(dest))
        return dest
    raise KeyError(name)


def _half(full: Path, dest: Path) -> Path:
    data = full.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    return dest


# ---------------------------------------------------------------------- running jobs


class RecordingStore:
    """A LocalObjectStore that remembers the order of writes; `before_put` can interfere."""

    def __init__(self, root: Path) -> None:
        self.inner = LocalObjectStore(root)
        self.root = root
        self.puts: list[str] = []
        self.before_put: Callable[[str], Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def put_file(self, key: str, path: Path, content_type: str) -> Any:
        if self.before_put is not None:
            await self.before_put(key)
        self.puts.append(key)
        return await self.inner.put_file(key, path, content_type)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> Any:
        self.puts.append(key)
        return await self.inner.put_bytes(key, data, content_type)


class RecordingBus:
    """Forwards to the real bus and notes when each event was published."""

    def __init__(self, bus: InMemoryBus) -> None:
        self.bus = bus
        self.published: list[tuple[float, Envelope]] = []

    async def publish(self, envelope: Envelope) -> None:
        self.published.append((time.monotonic(), envelope))
        await self.bus.publish(envelope)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bus, name)


@dataclass
class JobRun:
    video_id: int
    store: RecordingStore
    results: list[Envelope]
    """What reached the catalog's queue, in order."""
    published: list[tuple[float, Envelope]]
    dead: list[Envelope]
    work_dir: Path
    source_key: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.store.root

    def of(self, routing_key: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.results if e.routing_key == routing_key]

    @property
    def final(self) -> Envelope:
        finals = [e for e in self.results if e.routing_key in ("video.transcoded", "video.failed")]
        assert len(finals) == 1, [e.routing_key for e in self.results]
        return finals[0]

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file()
            and not p.name.startswith(".vf-")
            and p.relative_to(self.root).as_posix().startswith(prefix)
        )


async def run_job(
    source: Path,
    base: Path,
    *,
    video_id: int = 7,
    has_custom_thumbnail: bool = False,
    settings: TranscoderSettings | None = None,
    tools: Tools | None = None,
    store: RecordingStore | None = None,
    progress_interval: float = 1.0,
    prepare: Callable[[RecordingStore], Any] | None = None,
) -> JobRun:
    """Upload `source`, publish `video.uploaded`, let the handler consume it, collect results.
    `tools` default to what `settings` resolve to (the system's FFmpeg with `fast_settings`)."""
    work_dir = base / "work"
    settings = settings or fast_settings(work_dir)
    store = store or RecordingStore(base / "objects")
    await store.start()
    source_key = f"sources/{video_id}/{source.name}"
    await store.inner.put_file(source_key, source, "application/octet-stream")
    if prepare is not None:
        await prepare(store)
    bus = InMemoryBus(retry_delays_ms=[10])
    await bus.start()
    recording = RecordingBus(bus)
    results: list[Envelope] = []

    async def collect(envelope: Envelope) -> None:
        results.append(envelope)

    worker = Transcoder(
        store,
        recording,  # type: ignore[arg-type]
        settings,
        tools=tools,
        progress_interval=progress_interval,
    )
    try:
        await bus.consume(CATALOG.name, collect)
        await bus.consume(TRANSCODER.name, worker.handle, prefetch=1)
        uploaded = VideoUploaded(
            video_id=video_id, source_key=source_key, has_custom_thumbnail=has_custom_thumbnail
        )
        await bus.publish(uploaded.envelope())
        await bus.drain(timeout=180)
        dead = await bus.dead_letters(TRANSCODER.name)
    finally:
        await bus.close()
    return JobRun(
        video_id=video_id,
        store=store,
        results=results,
        published=recording.published,
        dead=dead,
        work_dir=settings.transcode_work_dir or work_dir,
        source_key=source_key,
    )


@pytest.fixture(scope="session")
def ladder_run(
    clip: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., JobRun]:
    """Transcode the named clip once per session with the SYSTEM or BUNDLED tool set (sync:
    use it from plain test functions)."""
    done: dict[tuple[str, str], JobRun] = {}

    def get(name: str, toolset: str = SYSTEM) -> JobRun:
        if (name, toolset) not in done:
            base = tmp_path_factory.mktemp(f"job-{name}-{toolset}")
            if toolset == BUNDLED:
                job = run_job(
                    clip(name),
                    base,
                    settings=bundled_settings(base / "work"),
                    tools=bundled_tools(),
                )
            else:
                job = run_job(clip(name), base)
            done[name, toolset] = asyncio.run(job)
        return done[name, toolset]

    return get
