"""The private work directories of jobs, and the start-up sweep of those of dead workers.

Several workers may share one work root. Each directory holds a lock file that its worker
keeps locked (`flock`) for as long as the job runs; the kernel drops the lock when the worker
dies, however it dies. A worker starting therefore removes every directory whose lock it can
take (its owner is gone) and leaves those it cannot (a live sibling's). The lock file is locked
before it gets its name, so a sweeper never finds it unlocked while its job lives. A directory
without a lock file (left by an older version) is removed only once it is older than any job
can run, as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

WORK_DIR_PREFIX = "vf-transcode-"
LOCK_NAME = ".owner.lock"


@dataclass
class WorkDir:
    """A job's directory, locked until `remove()`."""

    path: Path
    _lock_fd: int

    def remove(self) -> None:
        """Delete the directory, then let go of it. Blocking: run it in a thread."""
        try:
            shutil.rmtree(self.path, ignore_errors=True)
        finally:
            os.close(self._lock_fd)


def work_root(configured: Path | None) -> Path:
    return configured or Path(tempfile.gettempdir())


def claim(configured: Path | None, video_id: int) -> WorkDir:
    """A new, locked work directory for `video_id`. Blocking: run it in a thread."""
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{WORK_DIR_PREFIX}{video_id}-", dir=work_root(configured)))
    pending = path / f"{LOCK_NAME}.new"
    fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: nobody else holds it
        os.rename(pending, path / LOCK_NAME)
    except BaseException:
        os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        raise
    return WorkDir(path, fd)


def sweep(configured: Path | None, *, unlocked_max_age: float) -> int:
    """Remove the work directories of dead workers; returns how many. Directories without a
    lock file go once older than `unlocked_max_age` seconds. Blocking: run it in a thread."""
    removed = 0
    with contextlib.suppress(OSError):
        for path in work_root(configured).glob(f"{WORK_DIR_PREFIX}*"):
            with contextlib.suppress(OSError):
                if not path.is_dir() or path.is_symlink():
                    continue
                if _remove_if_abandoned(path, unlocked_max_age):
                    removed += 1
    return removed


def _remove_if_abandoned(path: Path, unlocked_max_age: float) -> bool:
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if path.stat().st_mtime < time.time() - unlocked_max_age:
            shutil.rmtree(path, ignore_errors=True)
            return True
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live worker's job
        shutil.rmtree(path, ignore_errors=True)
        return True
    finally:
        os.close(fd)
