"""Running the transcoder's job handler in a test: fast settings, the two tool sets, and a
job run over a recording LocalObjectStore and an InMemoryBus that keeps what it did.

Two tool sets: "system" (Debian's ffmpeg and ffprobe, which CI installs) and "bundled"
(imageio-ffmpeg's build and the PyAV prober: what a machine with Python only uses). The
bundled set is forced explicitly, since the system's would win on a machine that has both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.bus.memory import InMemoryBus
from common.bus.topology import CATALOG, TRANSCODER
from common.events import Envelope, VideoUploaded
from tests.support.fakes import RecordingBus, RecordingStore
from tests.support.media import FFMPEG, FFPROBE
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
    recording = RecordingBus(bus)  # the times of the progress events
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
        published=recording.timed(),
        dead=dead,
        work_dir=settings.transcode_work_dir or work_dir,
        source_key=source_key,
    )
