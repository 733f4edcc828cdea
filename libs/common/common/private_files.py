"""Files and folders only this process's user may read: databases, keys, DATA_DIR.

Modes are set explicitly (never through the process-wide umask, which other threads share)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_directory(path: Path) -> Path:
    """`path`, created if missing with every folder created here `0700`; a folder that already
    exists keeps its mode (it may be the operator's, e.g. a mount point)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by a concurrent process meanwhile
            folder.mkdir(mode=PRIVATE_DIR)
            os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    return path


def restrict(path: Path) -> None:
    """Make an existing file `0600` (a file made by an older version, with the umask's mode)."""
    with contextlib.suppress(OSError):  # missing, not ours, or a read-only mount
        if path.stat().st_mode & 0o777 != PRIVATE_FILE:
            os.chmod(path, PRIVATE_FILE)


def touch_private(path: Path) -> None:
    """Create `path` empty and `0600` unless it exists; an existing file is made `0600`."""
    private_directory(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    restrict(path)


def create_private_file(path: Path, data: bytes) -> bool:
    """Write `data` to a new `0600` file at `path`, atomically: False (and nothing written)
    when `path` already exists. Readers never see a half-written file, and of two processes
    creating it at once exactly one wins."""
    private_directory(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if `path` exists, unlike a rename
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive, if not atomic
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
