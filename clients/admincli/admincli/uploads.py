"""One file to one video through tus, resumable across runs: the upload's URL is remembered
per file fingerprint (path, size, mtime) before the first byte goes out, and a rerun asks the
server for its offset and sends only the rest."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from admincli.api import AdminApi
from admincli.session import UploadRecord, UploadStore, fingerprint
from admincli.tus import CHUNK_SIZE, TusClient, UploadGone


@dataclass(frozen=True)
class Metadata:
    title: str
    category: str
    description: str = ""

    @staticmethod
    def from_name(path: Path) -> str:
        """A title from a file name: `intro_to-algebra.mp4` is "Intro to algebra"."""
        words = re.sub(r"[\s_.\-]+", " ", path.stem).strip() or path.name
        return words[:1].upper() + words[1:]

    def for_upload(self, path: Path) -> dict[str, str]:
        return {
            "filename": path.name,
            "title": self.title,
            "description": self.description,
            "category": self.category,
        }


@dataclass(frozen=True)
class Outcome:
    path: Path
    video_id: int
    size: int
    resumed_from: int  # bytes the server already held (0: a fresh upload)
    skipped: bool = False  # uploaded by an earlier run, nothing sent


Start = Callable[[int, int], None]
"""Called once before sending: (file size, offset the upload starts or resumes at)."""


def _noop(*_: int) -> None:
    return None


def upload_file(
    api: AdminApi,
    store: UploadStore,
    path: Path,
    metadata: Metadata,
    *,
    on_start: Start = _noop,
    on_progress: Callable[[int], None] = _noop,
    skip_done: bool = False,
    chunk_size: int = CHUNK_SIZE,
    retries: int = 3,
) -> Outcome:
    """Upload `path` (or resume its upload); with `skip_done`, a file an earlier run already
    made into a video that still exists is not sent again."""
    tus = TusClient(api)
    size = path.stat().st_size
    print_ = fingerprint(path)
    meta = metadata.for_upload(path)
    record = store.get(print_)
    if record and record.video_id is not None:
        if skip_done and api.find_video(record.video_id) is not None:
            on_start(size, size)
            return Outcome(path, record.video_id, size, size, skipped=True)
        record = None
    offset = 0
    url = ""
    if record and record.upload_url:
        if record.metadata == meta:
            with contextlib.suppress(UploadGone):  # expired: a new one below
                offset, url = tus.state(record.upload_url).offset, record.upload_url
        else:  # other title/description/category this time: that upload is not this one
            tus.delete(record.upload_url)
    if not url:
        url = tus.create(size, meta)
        store.put(print_, UploadRecord(upload_url=url, metadata=meta))
    on_start(size, offset)
    video_id = tus.send(
        url, path, offset, size, on_progress=on_progress, chunk_size=chunk_size, retries=retries
    )
    store.put(print_, UploadRecord(video_id=video_id))
    return Outcome(path, video_id, size, offset)
