"""A transcoder killed mid-job (SIGKILL, out of memory) leaves nothing running and, once a
successor starts, nothing on disk; a live sibling sharing the work root is left alone.

The workers are real processes (`tests/transcoder/dying_worker.py`) running the real pipeline
and a real FFmpeg; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.storage.local import LocalObjectStore
from tests.support.media import make_clip, require_system_ffmpeg
from tests.support.transcoder import fast_settings
from tests.support.waiting import eventually_blocking
from transcoder.pipeline import Pipeline
from transcoder.tools import resolve_tools
from transcoder.workdirs import WORK_DIR_PREFIX

ROOT = Path(__file__).resolve().parents[2]
GONE_WITHIN = 2.0
"""How long an orphaned FFmpeg may outlive its killed worker."""


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of picture: far longer to encode at `veryslow` on one thread than any test waits."""
    require_system_ffmpeg()
    where = tmp_path_factory.mktemp("long-clip")
    return make_clip(where / "long.mp4", size="640x360", seconds=20, audio=False)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is dead for our purposes)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def ffmpeg_of(parent: int, work_dir: Path) -> int | None:
    """The pid of the ladder FFmpeg that `parent` runs in `work_dir`, if it runs yet."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if (
            ppid == parent
            and os.path.basename(argv[0]).startswith(b"ffmpeg")
            and any(str(work_dir).encode() in arg for arg in argv)
        ):
            return int(entry.name)
    return None


class Worker:
    def __init__(self, clip: Path, work_dir: Path, video_id: int, log: Path) -> None:
        self.work_dir = work_dir
        self.video_id = video_id
        self.log = log
        args = [str(clip), str(work_dir), str(video_id)]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.transcoder.dying_worker", *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.ffmpeg: int | None = None

    def wait_for_ffmpeg(self) -> int:
        def running() -> int | None:
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited early:\n{self.log.read_text()[-3000:]}")
            return ffmpeg_of(self.process.pid, self.work_dir)

        self.ffmpeg = eventually_blocking(
            running, within=60, interval=0.1, failure="the worker never started FFmpeg"
        )
        return self.ffmpeg

    def work_dirs(self) -> list[Path]:
        return sorted(self.work_dir.glob(f"{WORK_DIR_PREFIX}{self.video_id}-*"))

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def clean_up(self) -> None:
        """Whatever the test's outcome, leave nothing running."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(timeout=10)
        if self.ffmpeg is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.ffmpeg, signal.SIGKILL)


@pytest.fixture
def workers(long_clip: Path, tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.clean_up()


def start(workers: list[Worker], clip: Path, work_dir: Path, video_id: int) -> Worker:
    worker = Worker(clip, work_dir, video_id, work_dir.parent / f"worker-{video_id}.log")
    workers.append(worker)
    return worker


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_ffmpeg_dies_with_its_killed_worker(
    workers: list[Worker], long_clip: Path, tmp_path: Path
) -> None:
    worker = start(workers, long_clip, tmp_path / "work", 7)
    ffmpeg = worker.wait_for_ffmpeg()
    worker.kill()
    assert gone_within(ffmpeg, GONE_WITHIN), "FFmpeg ran on after its worker was killed"


def test_start_up_sweeps_dead_workers_folders_not_a_live_siblings(
    workers: list[Worker], long_clip: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"  # one work root shared by every worker
    live = start(workers, long_clip, work, 1)
    dead = start(workers, long_clip, work, 2)
    live_ffmpeg = live.wait_for_ffmpeg()
    dead.wait_for_ffmpeg()
    assert len(live.work_dirs()) == 1 and len(dead.work_dirs()) == 1
    dead.kill()
    dead.clean_up()  # its FFmpeg too: this test is about the folders

    # a third worker starts and sweeps the shared work root
    settings = fast_settings(work)
    successor = Pipeline(LocalObjectStore(tmp_path / "objects"), settings, resolve_tools(settings))
    assert successor.sweep_work_dirs() == 1
    assert dead.work_dirs() == [], "the dead worker's folder was kept"
    assert len(live.work_dirs()) == 1, "the live sibling's folder was removed"
    assert live.process.poll() is None and alive(live_ffmpeg)
