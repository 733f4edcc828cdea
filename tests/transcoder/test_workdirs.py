"""Work directories: locked while their job runs, swept once their worker is gone (the
crash test with real worker processes is in test_crash_hygiene.py)."""

from __future__ import annotations

import os
from pathlib import Path

from transcoder.workdirs import LOCK_NAME, claim, sweep

HOUR = 3600.0


def test_a_job_in_progress_is_never_swept(tmp_path: Path) -> None:
    work = claim(tmp_path, 5)
    assert work.path.parent == tmp_path and work.path.name.startswith("vf-transcode-5-")
    os.utime(work.path, (0, 0))  # however old it looks
    assert sweep(tmp_path, unlocked_max_age=HOUR) == 0
    assert work.path.is_dir()
    work.remove()
    assert not work.path.exists()


def test_a_directory_whose_lock_is_free_is_swept(tmp_path: Path) -> None:
    left = tmp_path / "vf-transcode-3-abc"
    left.mkdir()
    (left / LOCK_NAME).touch()  # its worker died: nobody holds the lock
    (left / "source.mp4").write_bytes(b"x" * 1000)
    assert sweep(tmp_path, unlocked_max_age=HOUR) == 1
    assert not left.exists()


def test_a_directory_without_a_lock_goes_only_when_old(tmp_path: Path) -> None:
    """Left by an older version, or caught between being made and being locked."""
    fresh, old = tmp_path / "vf-transcode-1-new", tmp_path / "vf-transcode-1-old"
    fresh.mkdir()
    old.mkdir()
    (fresh / f"{LOCK_NAME}.new").touch()
    os.utime(old, (0, 0))
    assert sweep(tmp_path, unlocked_max_age=HOUR) == 1
    assert fresh.is_dir() and not old.exists()


def test_only_work_directories_are_touched(tmp_path: Path) -> None:
    other = tmp_path / "someone-elses"
    other.mkdir()
    (other / LOCK_NAME).touch()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / LOCK_NAME).touch()
    (tmp_path / "vf-transcode-9-link").symlink_to(target)
    assert sweep(tmp_path, unlocked_max_age=0) == 0
    assert other.is_dir() and target.is_dir()


def test_a_missing_work_root_is_nothing_to_sweep(tmp_path: Path) -> None:
    assert sweep(tmp_path / "missing", unlocked_max_age=HOUR) == 0
