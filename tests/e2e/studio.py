"""The studio's pieces for the browser tests (tests/e2e/test_studio.py): a page opened on
`/studio/` with recorders, the login, the tus traffic as the browser saw it, the files.

The recorders are init scripts, so they see everything from the first paint on:
- `window.studioSeen[<video id>]`: every status and transcode progress a row showed, in order
  (a MutationObserver: it runs before the next event is handled, so a state that lasted a
  single event is still seen);
- `window.studioUploadProgress`: every value of the upload's progress bar;
- `window.studioCsp`: Content-Security-Policy violations (there must be none).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Locator, Page, Request, Response, Route, expect

from tests.e2e.harness import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT, E2EPlatform
from tests.support import media

CHUNK_BYTES = 128 * 1024  # small chunks: a cut costs one, and a clip has a dozen
SCREENSHOT = ROOT / "docs" / "studio.png"

RECORDERS = f"""
window.STUDIO_CHUNK_BYTES = {CHUNK_BYTES};
window.studioSeen = {{}};
window.studioUploadProgress = [];
window.studioCsp = [];
document.addEventListener("securitypolicyviolation", (e) => {{
  window.studioCsp.push(e.violatedDirective + " " + e.blockedURI);
}});
function studioRecord() {{
  for (const row of document.querySelectorAll('[data-testid="video-row"]')) {{
    const status = row.querySelector('[data-testid="video-status"]').textContent;
    const bar = row.querySelector('[data-testid="video-progress"]');
    const progress = Number(bar.getAttribute("aria-valuenow"));
    const seen = (window.studioSeen[row.dataset.videoId] ||= []);
    const last = seen[seen.length - 1];
    if (!last || last.status !== status || last.progress !== progress) {{
      seen.push({{ status, progress }});
    }}
  }}
  const upload = document.querySelector('[data-testid="upload-progress"]');
  if (upload && !upload.hidden) {{
    const value = Number(upload.getAttribute("aria-valuenow"));
    const values = window.studioUploadProgress;
    if (values[values.length - 1] !== value) values.push(value);
  }}
}}
document.addEventListener("DOMContentLoaded", () => {{
  new MutationObserver(studioRecord).observe(document.body, {{
    subtree: true, childList: true, characterData: true, attributes: true,
    attributeFilter: ["aria-valuenow", "data-status", "hidden"],
  }});
}});
"""


async def open_studio(open_page: Callable[[], Awaitable[Page]], platform: E2EPlatform) -> Page:
    page = await open_page()
    await page.add_init_script(RECORDERS)
    await page.goto(f"{platform.url}/studio/")
    return page


async def log_in(page: Page, email: str, password: str) -> None:
    await expect(page.get_by_test_id("login-email")).to_be_visible()
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def log_in_as_admin(page: Page) -> None:
    await log_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    await expect(page.locator("#videos-view")).to_be_visible()
    await expect(page.locator("#live-state")).to_have_text("Live")


def video_row(page: Page, video_id: int) -> Locator:
    return page.locator(f'[data-testid="video-row"][data-video-id="{video_id}"]')


async def seen(page: Page, video_id: int) -> list[dict[str, Any]]:
    """What the video's row showed, in order: `[{"status": ..., "progress": ...}, ...]`."""
    return await page.evaluate("(id) => window.studioSeen[String(id)] || []", video_id)


async def check_clean(page: Page) -> None:
    violations = await page.evaluate("() => window.studioCsp")
    assert violations == [], f"Content-Security-Policy violations: {violations}"


async def fill_upload(page: Page, path: Path, title: str, category: str, text: str = "") -> None:
    await page.get_by_test_id("upload-file").set_input_files(str(path))
    await page.get_by_test_id("upload-title").fill(title)
    await page.get_by_test_id("upload-description").fill(text)
    await page.get_by_test_id("upload-category").fill(category)


async def save_screenshot(page: Page) -> None:
    """docs/studio.png for the README, only when STUDIO_SCREENSHOT is set (CI leaves it be)."""
    if not os.environ.get("STUDIO_SCREENSHOT"):
        return
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(SCREENSHOT), full_page=False)


# ---------------------------------------------------------------- files


def make_clip(directory: Path) -> Path:
    """A real 4 s 480p clip (about a dozen chunks), which transcodes to a 480p rendition."""
    return media.make_clip(directory / "studio-clip.mp4", size="854x480", seconds=4, rate=24)


def make_non_video(directory: Path, size: int = 600 * 1024) -> Path:
    """Bytes that no prober takes for a video, under a video's name."""
    path = directory / "not-a-video.mp4"
    path.write_bytes((b"this is not a video, only text. " * (size // 32 + 1))[:size])
    return path


# ---------------------------------------------------------------- the tus traffic


@dataclass
class TusCall:
    method: str
    url: str
    request_offset: int | None  # PATCH: the offset it claims
    body_bytes: int  # PATCH: the bytes it carries
    status: int | None = None  # None: it never reached the server
    offset: int | None = None  # the server's Upload-Offset in the answer
    video_id: int | None = None  # Videoflix-Video-Id in the answer


@dataclass
class TusTraffic:
    """Every request of the page to the tus endpoint, with the server's answers."""

    calls: list[TusCall] = field(default_factory=list)
    pending: dict[Request, TusCall] = field(default_factory=dict)

    def attach(self, page: Page) -> None:
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Request) -> None:
        if "/api/admin/uploads" not in request.url:
            return
        offset = request.headers.get("upload-offset")
        body = 0
        if request.method == "PATCH":
            # a File's bytes are not always handed over (then the length header tells)
            data = request.post_data_buffer
            body = len(data) if data else int(request.headers.get("content-length", 0))
        call = TusCall(
            request.method, request.url, int(offset) if offset is not None else None, body
        )
        self.calls.append(call)
        self.pending[request] = call

    def _response(self, response: Response) -> None:
        call = self.pending.pop(response.request, None)
        if call is None:
            return
        call.status = response.status
        offset = response.headers.get("upload-offset")
        call.offset = int(offset) if offset is not None else None
        video_id = response.headers.get("videoflix-video-id")
        call.video_id = int(video_id) if video_id is not None else None

    def of(self, method: str) -> list[TusCall]:
        return [c for c in self.calls if c.method == method]

    def video_id(self) -> int:
        ids = {c.video_id for c in self.calls if c.video_id is not None}
        assert len(ids) == 1, f"one Videoflix-Video-Id expected: {self.describe()}"
        return ids.pop()

    def describe(self) -> str:
        return json.dumps([c.__dict__ for c in self.calls], indent=1)


class CutOnce:
    """A page route that cuts the connection of the first PATCH at or past `at` bytes: the
    request never reaches the server (net::ERR_CONNECTION_RESET in the page)."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.cut_offset: int | None = None

    async def __call__(self, route: Route) -> None:
        request = route.request
        offset = request.headers.get("upload-offset")
        if (
            request.method == "PATCH"
            and self.cut_offset is None
            and offset is not None
            and int(offset) >= self.at
        ):
            self.cut_offset = int(offset)
            await route.abort("connectionreset")
            return
        await route.continue_()


class HoldFrom:
    """A page route that holds back every PATCH at or past `at` bytes until released (then
    drops it, and lets everything after through): the upload stalls there, as when a tab is
    closed in the middle. (The route stays on: the browser hands a File's bytes to the
    request event only for routed requests.)"""

    def __init__(self, at: int) -> None:
        self.at = at
        self.held_offset: int | None = None
        self.stalled = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, route: Route) -> None:
        request = route.request
        offset = request.headers.get("upload-offset")
        holding = not self.release.is_set()
        if holding and request.method == "PATCH" and offset is not None and int(offset) >= self.at:
            if self.held_offset is None:
                self.held_offset = int(offset)
            self.stalled.set()
            await self.release.wait()
            with contextlib.suppress(Exception):
                await route.abort("connectionreset")
            return
        await route.continue_()
