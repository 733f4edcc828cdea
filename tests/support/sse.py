"""Reading a server-sent event stream (`text/event-stream`) from an httpx streaming response,
one frame at a time, the way a browser's EventSource splits it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    def json(self) -> Any:
        return json.loads("\n".join(self.data))


class EventReader:
    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        self._lines = response.aiter_lines()

    async def frame(self, timeout: float = 10) -> Frame | None:
        """The next frame (event, comment or `retry:`), None when the stream ended."""
        return await asyncio.wait_for(self._frame(), timeout)

    async def _frame(self) -> Frame | None:
        frame = Frame()
        seen = False
        async for line in self._lines:
            if line == "":
                if seen:
                    return frame
                continue
            seen = True
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comments.append(value)
            elif name == "event":
                frame.event = value
            elif name == "data":
                frame.data.append(value)
            elif name == "retry":
                frame.retry = int(value)
        return frame if seen else None

    async def event(self, timeout: float = 10) -> Frame:
        """The next frame that is an event (comments and `retry:` skipped)."""
        while True:
            frame = await self.frame(timeout)
            assert frame is not None, "the stream ended"
            if frame.event is not None:
                return frame

    async def until(self, wanted: Callable[[Frame], bool], timeout: float = 30) -> Frame:
        """Skip events until one is `wanted`."""

        async def find() -> Frame:
            while not wanted(frame := await self.event(timeout)):
                pass
            return frame

        return await asyncio.wait_for(find(), timeout)
