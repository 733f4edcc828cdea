"""What changes among the videos the admin sees, for the live stream (`catalog.events`).

One watcher a process, however many admins listen. While someone listens it reads, every
`poll_seconds`, the `(id, updated_at)` of every video the admin sees (every move of
`catalog.lifecycle` stamps `updated_at`), loads the rows whose stamp changed and hands every
listener the new `AdminVideo`s and the ids that are gone; with nobody listening it reads
nothing.

Why the database and not a notification from the result handlers: the catalog runs as several
replicas, and the result that moves a video is handled by whichever replica the bus hands it
to (competing consumers), an admin's edit by another; the database is the one place where
every replica's change shows. One query a process per interval (not one per listener) keeps
that cheap, and an interval of 0.5 s keeps the promise of "within 1 s". Comparing stamps for
equality, rather than asking for rows newer than the last poll, cannot miss a transaction that
commits after a later one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog import lifecycle
from catalog.models import Video
from catalog.schemas import admin_video

log = logging.getLogger(__name__)

ROWS_PER_QUERY = 500
"""Ids per `IN (...)` when loading changed rows (SQLite caps bound parameters)."""
MAX_PENDING = 1000
"""Batches a listener may fall behind by before it is dropped (its client reconnects)."""


@dataclass(frozen=True)
class Change:
    """`video` is the AdminVideo as JSON, or None when the video is gone."""

    video_id: int
    video: str | None


@dataclass(eq=False)
class Listener:
    snapshot: list[Change]
    """Every video the admin sees, newest first, when the listener joined."""
    _batches: asyncio.Queue[list[Change] | None] = field(default_factory=asyncio.Queue)
    dropped: bool = False

    async def next(self, timeout: float) -> list[Change] | None:
        """The next changes; [] when `timeout` passed without any; None when the listener
        was dropped (fell too far behind, or the watcher stopped)."""
        if self.dropped:
            return None
        try:
            return await asyncio.wait_for(self._batches.get(), timeout)
        except TimeoutError:
            return []

    def _offer(self, batch: list[Change]) -> None:
        if self._batches.qsize() >= MAX_PENDING:
            self._drop()
        else:
            self._batches.put_nowait(batch)

    def _drop(self) -> None:
        self.dropped = True
        self._batches.put_nowait(None)


@dataclass(eq=False)
class VideoWatcher:
    sessionmaker: async_sessionmaker[AsyncSession]
    public_base_url: str
    poll_seconds: float
    _known: dict[int, tuple[datetime, str]] = field(default_factory=dict)
    _order: dict[int, tuple[datetime, int]] = field(default_factory=dict)
    _listeners: set[Listener] = field(default_factory=set)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _wanted: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def listening(self) -> int:
        return len(self._listeners)

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[Listener]:
        """A listener with the current snapshot, then every change after it; removed on exit
        (a disconnect or a cancellation included)."""
        async with self._lock:  # no poll between the snapshot and the registration
            await self._poll()
            newest_first = sorted(self._known, key=lambda i: self._order[i], reverse=True)
            listener = Listener([Change(i, self._known[i][1]) for i in newest_first])
            self._listeners.add(listener)
            self._wanted.set()
        try:
            yield listener
        finally:
            self._listeners.discard(listener)
            if not self._listeners:
                self._wanted.clear()

    async def run(self) -> None:
        """Poll while someone listens; runs until cancelled (the app's lifespan owns it)."""
        try:
            while True:
                await self._wanted.wait()
                try:
                    async with self._lock:
                        await self._poll()
                except Exception:  # a database hiccup: listeners wait for the next round
                    log.warning("could not read video changes", exc_info=True)
                await asyncio.sleep(self.poll_seconds)
        finally:
            for listener in list(self._listeners):
                listener._drop()

    async def _poll(self) -> None:
        async with self.sessionmaker() as db:
            stamps: dict[int, datetime] = {
                video_id: stamp
                for video_id, stamp in (
                    await db.execute(
                        select(Video.id, Video.updated_at).where(lifecycle.SEEN_BY_ADMIN_ROWS)
                    )
                ).all()
            }
            changed = [i for i, stamp in stamps.items() if self._known.get(i, (None,))[0] != stamp]
            rows = await _load(db, changed)
        batch: list[Change] = []
        for video in rows:
            if not lifecycle.seen_by_admin(video):
                continue  # gone meanwhile: the next round says so
            shown = admin_video(video, self.public_base_url).model_dump_json()
            self._known[video.id] = (video.updated_at, shown)
            self._order[video.id] = (video.created_at, video.id)
            batch.append(Change(video.id, shown))
        for video_id in [i for i in self._known if i not in stamps]:
            del self._known[video_id], self._order[video_id]
            batch.append(Change(video_id, None))
        if batch:
            for listener in self._listeners:
                listener._offer(batch)


async def _load(db: AsyncSession, ids: Sequence[int]) -> list[Video]:
    rows: list[Video] = []
    for start in range(0, len(ids), ROWS_PER_QUERY):
        chunk = ids[start : start + ROWS_PER_QUERY]
        rows.extend((await db.scalars(select(Video).where(Video.id.in_(chunk)))).all())
    return rows
