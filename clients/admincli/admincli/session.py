"""What the CLI keeps between runs, per server URL, under `$XDG_CONFIG_HOME/videoflix/` (or
`~/.config/videoflix/`): the login's tokens, and the tus upload URL of each file being uploaded
(so a rerun resumes it) or the video a file became (so an import skips it).

Every file is written 0600 in a 0700 folder, whole (a temp file renamed over the old one), so an
interrupted run never leaves half a file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from admincli.errors import CliError


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "videoflix"


def normalise_url(url: str) -> str:
    """`http://host:8000/` and `http://host:8000` are the same server."""
    return url.strip().rstrip("/")


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _private_folder(folder: Path) -> None:
    """The folder and the `videoflix` one above it: 0700 when this makes them."""
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700, exist_ok=True)


def _write_private(path: Path, data: dict[str, Any]) -> None:
    try:
        _private_folder(path.parent)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mkstemp: mode 0600
    except OSError as exc:
        raise CliError(
            f"Cannot write to {path.parent} ({exc.strerror}): set XDG_CONFIG_HOME to a "
            "folder of your own."
        ) from exc
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Credentials:
    email: str
    access: str
    refresh: str
    csrf: str = ""


class SessionStore:
    """The login of one server."""

    def __init__(self, url: str, root: Path | None = None) -> None:
        self.url = normalise_url(url)
        self.path = (root or config_dir()) / "sessions" / f"{_key(self.url)}.json"

    def load(self) -> Credentials | None:
        data = _read(self.path)
        if not data or data.get("url") != self.url:
            return None
        try:
            return Credentials(
                email=str(data["email"]),
                access=str(data["access"]),
                refresh=str(data["refresh"]),
                csrf=str(data.get("csrf", "")),
            )
        except KeyError:
            return None

    def save(self, credentials: Credentials) -> None:
        _write_private(self.path, {"url": self.url, **asdict(credentials)})

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def fingerprint(path: Path) -> str:
    """A file as it is now: its absolute path, size and modification time (an edited file is
    another upload)."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


@dataclass
class UploadRecord:
    upload_url: str = ""  # tus URL of the upload in progress
    metadata: dict[str, str] | None = None  # what it was created with
    video_id: int | None = None  # set once the upload became a video


class UploadStore:
    """Per server and file fingerprint: the upload in progress, or the video it became. One
    file per fingerprint, so parallel runs never overwrite each other's records."""

    def __init__(self, url: str, root: Path | None = None) -> None:
        self.url = normalise_url(url)
        self.folder = (root or config_dir()) / "uploads"

    def _path(self, print_: str) -> Path:
        return self.folder / f"{_key(self.url, print_)}.json"

    def get(self, print_: str) -> UploadRecord | None:
        data = _read(self._path(print_))
        if not data or data.get("url") != self.url or data.get("fingerprint") != print_:
            return None
        video_id = data.get("video_id")
        return UploadRecord(
            upload_url=str(data.get("upload_url") or ""),
            metadata=data.get("metadata"),
            video_id=video_id if isinstance(video_id, int) else None,
        )

    def put(self, print_: str, record: UploadRecord) -> None:
        _write_private(
            self._path(print_), {"url": self.url, "fingerprint": print_, **asdict(record)}
        )

    def forget(self, print_: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(print_).unlink()
