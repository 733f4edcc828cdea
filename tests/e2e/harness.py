"""The pieces of the browser end-to-end tests: the test client's static server, the platform
started like `make dev`, the captured mail, browser contexts with failure artefacts, the
account and video set-up. The fixtures that put them together are in conftest.py."""

from __future__ import annotations

import contextlib
import html
import http.server
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.support import media
from tests.support.allinone import RunningAllInOne, allinone_process
from tests.support.http import free_port
from tests.support.platform import Mail, parse_mail
from tests.support.services import SmtpCapture
from tests.support.waiting import eventually, eventually_blocking

ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
CLIENT_DIR = E2E_DIR / "client"
HLS_JS = E2E_DIR / "node_modules" / "hls.js" / "dist" / "hls.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]

ADMIN_EMAIL = "e2e-admin@example.com"
ADMIN_PASSWORD = "e2e admin passphrase 7"

expect.set_options(timeout=15_000)


# ---------------------------------------------------------------- the test client's server


class StaticClient:
    """The files under client/ on their own loopback port; `/config.js` holds the API base URL
    (the real client hard-codes http://127.0.0.1:8000/api/) and `/vendor/hls.min.js` is hls.js
    from node_modules (`npm ci` in tests/e2e)."""

    def __init__(self, api_base_url: str) -> None:
        config = f"window.VIDEOFLIX_CONFIG = {json.dumps({'API_BASE_URL': api_base_url})};\n"
        generated = {
            "/config.js": lambda: config.encode(),
            "/vendor/hls.min.js": HLS_JS.read_bytes,
        }

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
                super().__init__(*args, directory=str(CLIENT_DIR), **kwargs)

            def do_GET(self) -> None:
                make = generated.get(self.path.split("?", 1)[0])
                if make is None:
                    super().do_GET()
                    return
                body = make()
                self.send_response(200)
                self.send_header("Content-Type", "text/javascript; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def end_headers(self) -> None:
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> StaticClient:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"{self.origin}/{path.lstrip('/')}"


# ---------------------------------------------------------------- the platform


@dataclass
class E2EPlatform:
    url: str  # the gateway, http://127.0.0.1:<port>
    api: str  # what the client calls: <url>/api/
    client: StaticClient  # its origin is CORS_ORIGINS and FRONTEND_URL
    foreign: StaticClient  # the same client from an origin NOT in CORS_ORIGINS
    smtp: SmtpCapture
    allinone: RunningAllInOne

    def log_tail(self, size: int = 20_000) -> str:
        return self.allinone.logs(size)


@contextlib.contextmanager
def running_platform(workdir: Path) -> Iterator[E2EPlatform]:
    """`make dev` (python -m allinone) on a free port, mail over SMTP into a capture server,
    the test client on a second port (FRONTEND_URL, CORS_ORIGINS) and on a third (foreign)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        smtp = SmtpCapture().start()
        stack.callback(smtp.stop)
        client = StaticClient(f"{url}/api/").start()
        stack.callback(client.stop)
        foreign = StaticClient(f"{url}/api/").start()
        stack.callback(foreign.stop)
        running = stack.enter_context(
            allinone_process(
                workdir,
                port=port,
                SMTP_HOST=smtp.host,
                SMTP_PORT=str(smtp.port),
                SMTP_STARTTLS="false",
                FRONTEND_URL=client.origin,
                CORS_ORIGINS=client.origin,
                ADMIN_EMAIL=ADMIN_EMAIL,
                ADMIN_PASSWORD=ADMIN_PASSWORD,
                # every journey logs in from 127.0.0.1; the per-address limits are tested
                # elsewhere
                RATE_LIMIT_LOGIN="100",
                RATE_LIMIT_REGISTER="100",
                RATE_LIMIT_PASSWORD_RESET="100",
            )
        )
        yield E2EPlatform(url, f"{url}/api/", client, foreign, smtp, running)


# ---------------------------------------------------------------- mail


class Mailbox:
    """The messages the SMTP capture server received, parsed."""

    def __init__(self, smtp: SmtpCapture) -> None:
        self.smtp = smtp

    def to(self, address: str) -> list[Mail]:
        address = address.lower()
        return [
            parse_mail(m.data)
            for m in list(self.smtp.messages)
            if address in (r.lower() for r in m.recipients)
        ]

    async def wait_for(self, address: str, count: int = 1, timeout: float = 20) -> list[Mail]:
        return await eventually(
            lambda: self.to(address),
            lambda mails: len(mails) >= count,
            within=timeout,
            interval=0.1,
            failure=lambda mails: f"{count} mail(s) to {address} expected, got {len(mails)}",
        )


def link_to(mail: Mail, page: str) -> str:
    """The link in a mail to one of the client's pages, e.g. `activate.html`."""
    for text in (mail.text, html.unescape(mail.html)):
        for link in re.findall(r"https?://[^\s\"'<>]+", text):
            if f"/{page}?" in link:
                return link
    raise AssertionError(f"no link to {page} in mail {mail.subject!r}:\n{mail.text}")


# ---------------------------------------------------------------- browser contexts


@dataclass
class OpenedContext:
    context: BrowserContext
    log: list[str]  # the browser console and uncaught errors


async def new_context(browser: Browser) -> OpenedContext:
    """A fresh context, with its own cookie jar: another browser, as the platform sees it."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = OpenedContext(context, [])

    def on_console(message) -> None:  # type: ignore[no-untyped-def]
        where = message.page.url if message.page else "?"
        opened.log.append(f"{where} [{message.type}] {message.text}")

    context.on("console", on_console)
    context.on("weberror", lambda error: opened.log.append(f"uncaught: {error.error}"))
    return opened


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def save_artifacts(target: Path, opened: list[OpenedContext], platform_log: str) -> None:
    """Screenshots of every page and of the player, the client's `window.e2e`, the console."""
    shutil.rmtree(target, ignore_errors=True)
    _write(target / "platform.log", platform_log)
    for i, item in enumerate(opened):
        _write(target / f"console-{i}.log", "\n".join(item.log))
        for j, page in enumerate(item.context.pages):
            name = f"{i}-{j}"
            with contextlib.suppress(Exception):
                shot = target / f"page-{name}.png"
                await page.screenshot(path=shot, full_page=True, timeout=5000)
            with contextlib.suppress(Exception):
                player = page.locator("#player")
                if await player.count() and await player.is_visible():
                    await player.screenshot(path=target / f"player-{name}.png", timeout=5000)
            with contextlib.suppress(Exception):
                state = await page.evaluate("() => window.e2e || null")
                report = json.dumps({"url": page.url, "e2e": state}, indent=2)
                _write(target / f"state-{name}.json", report)


def check_browser_requirements() -> None:
    """Without a browser or hls.js the journeys cannot run: skipped on a developer machine,
    a failure in CI (VIDEOFLIX_REQUIRE_SERVICES=1), like every other missing service."""
    from tests.support.services import unavailable

    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    if not HLS_JS.exists():
        unavailable(f"hls.js ({HLS_JS}; run `npm ci` in tests/e2e)")


async def expect_message(page: Page, kind: str, text: str | None = None) -> str:
    """Waits until the page shows a message, then checks its kind ("success" or "error")
    and, when given, its text; a mismatch names what the page showed instead."""
    box = page.locator("#messages")
    await expect(box).to_have_attribute("data-kind", re.compile(r"^(success|error)$"))
    shown_kind = await box.get_attribute("data-kind")
    shown = await box.inner_text()
    assert shown_kind == kind, f"{page.url} shows {shown_kind}: {shown!r}"
    if text is not None:
        assert shown == text, f"{page.url} shows {shown!r}, not {text!r}"
    return shown


# ---------------------------------------------------------------- accounts


@dataclass(frozen=True)
class Account:
    email: str
    password: str


async def sign_up_and_activate(
    page: Page, platform: E2EPlatform, mailbox: Mailbox, account: Account
) -> None:
    """Through the client: the sign-up page, then the activation link of the mail."""
    await page.goto(platform.client.url("pages/auth/signup.html"))
    await page.fill("#email", account.email)
    await page.fill("#password", account.password)
    await page.fill("#confirmed-password", account.password)
    await page.check("#privacy-policy")
    await page.click("#signup-button")
    await expect_message(page, "success")
    (mail,) = await mailbox.wait_for(account.email, 1)
    assert mail.subject == "Confirm your email", mail.subject
    link = link_to(mail, "activate.html")
    assert link.startswith(platform.client.url("pages/auth/activate.html?")), link
    await page.goto(link)
    await expect_message(page, "success", "Account successfully activated.")


# ---------------------------------------------------------------- videos


@dataclass(frozen=True)
class Clip:
    title: str
    description: str
    category: str
    width: int
    height: int
    seconds: int
    with_thumbnail: bool  # the admin uploads one; else the transcoder makes it


# uploaded in this order: the last one is the newest video of the list
CLIPS = (
    Clip(
        "E2E Harbour at dawn",
        "A 720p source: gets 480p and 720p.",
        "Documentary",
        1280,
        720,
        6,
        with_thumbnail=True,
    ),
    Clip(
        "E2E Night train",
        "A 1080p source: gets 480p, 720p and 1080p.",
        "Drama",
        1920,
        1080,
        8,
        with_thumbnail=False,
    ),
)


@dataclass(frozen=True)
class SeededVideo:
    id: int
    clip: Clip
    renditions: tuple[str, ...]


def make_clip(clip: Clip, directory: Path) -> Path:
    """testsrc2 with a 440 Hz tone: H.264 + AAC in MP4."""
    path = directory / f"{clip.height}p.mp4"
    return media.make_clip(path, size=f"{clip.width}x{clip.height}", seconds=clip.seconds, rate=24)


def make_thumbnail(directory: Path) -> Path:
    path = directory / "thumbnail.jpg"
    media.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360", "-frames:v", "1", str(path))
    return path


def admin_client(platform: E2EPlatform) -> httpx.Client:
    """Logged in as the start-up admin: cookies, and X-CSRFToken on every request."""
    client = httpx.Client(base_url=platform.url, timeout=60)
    login = client.post("/api/login/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert login.status_code == 200, f"admin login: {login.status_code} {login.text}"
    assert "csrftoken" in client.cookies, "login set no csrftoken cookie"
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def upload(client: httpx.Client, clip: Clip, source: Path, thumbnail: Path | None) -> int:
    data = {"title": clip.title, "description": clip.description, "category": clip.category}
    with contextlib.ExitStack() as stack:
        files = {"file": (source.name, stack.enter_context(source.open("rb")), "video/mp4")}
        if thumbnail is not None:
            image = stack.enter_context(thumbnail.open("rb"))
            files["thumbnail"] = (thumbnail.name, image, "image/jpeg")
        created = client.post("/api/admin/videos/", data=data, files=files)
    assert created.status_code == 201, f"admin upload: {created.status_code} {created.text}"
    body = created.json()
    assert isinstance(body.get("id"), int), body
    assert body.get("status") == "processing", body
    return body["id"]


def wait_ready(client: httpx.Client, video_id: int, timeout: float = 120) -> dict[str, object]:
    def detail() -> dict[str, object]:
        answer = client.get(f"/api/admin/videos/{video_id}/")
        assert answer.status_code == 200, f"{answer.status_code} {answer.text}"
        body = answer.json()
        assert body["status"] != "failed", f"video {video_id} failed: {body.get('error')}"
        return body

    return eventually_blocking(
        detail,
        lambda body: body["status"] == "ready",
        within=timeout,
        interval=0.5,
        failure=lambda body: f"video {video_id} not ready after {timeout}s: {body}",
    )


def seed_videos(platform: E2EPlatform, directory: Path) -> list[SeededVideo]:
    """The CLIPS, uploaded by the admin through the gateway and transcoded; oldest first."""
    thumbnail = make_thumbnail(directory)
    with contextlib.closing(admin_client(platform)) as client:
        ids = [
            upload(client, c, make_clip(c, directory), thumbnail if c.with_thumbnail else None)
            for c in CLIPS
        ]
        details = [wait_ready(client, i) for i in ids]
    return [
        SeededVideo(i, c, tuple(d["renditions"]))  # type: ignore[arg-type]
        for i, c, d in zip(ids, CLIPS, details, strict=True)
    ]
