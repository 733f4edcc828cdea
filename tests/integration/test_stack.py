"""`python -m stack` (what `make stack` runs) as an operator runs it: every service its own
process against the machine's PostgreSQL, RabbitMQ and Redis, moto's S3 server started for it,
mail over SMTP; a whole journey through its gateway; then Ctrl-C stops every process it started,
removes what it made (a throw-away run) and exits 0."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from stack.__main__ import READY
from tests.support.http import free_port
from tests.support.integration import ORIGIN
from tests.support.media import make_clip
from tests.support.platform import Mail, parse_mail
from tests.support.services import SmtpCapture
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
START_LIMIT = 240  # seconds: seven processes on a small machine
JOURNEY_LIMIT = 180
ADMIN = {"email": "stack-admin@example.com", "password": "stack admin secret"}
PASSWORD = "stack walker passphrase"
# what the stack must not take from the environment of whoever runs the tests
NOT_PASSED = ("S3_ENDPOINT", "S3_BUCKET", "REDIS_KEY_PREFIX", "DATABASE_URL", "RABBITMQ_URL")


class Output:
    """The command's output, read line by line in a thread (so its pipe never fills)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stdout = process.stdout
        self._thread = threading.Thread(target=lambda: self.lines.extend(stdout), daemon=True)
        self._thread.start()

    @property
    def text(self) -> str:
        return "".join(self.lines)


def descendants(pid: int) -> Iterator[int]:
    """The live processes below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rpartition(")")[2].split()[:2]
            if state != "Z":
                children.setdefault(int(ppid), []).append(int(entry.name))
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        yield child
        todo.extend(children.get(child, []))


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


async def mail_to(smtp: SmtpCapture, address: str) -> Mail:
    found = await eventually(
        lambda: [m for m in smtp.messages if address in m.recipients],
        bool,
        within=30,
        interval=0.1,
        failure=lambda _: f"no mail to {address}",
    )
    return parse_mail(found[0].data)


async def journey(gateway: str, smtp: SmtpCapture, clip: Path) -> None:
    """Register, activate from the mail, log in; the admin uploads; it becomes ready; the new
    user fetches its playlists."""
    headers = {"Origin": ORIGIN}
    async with (
        httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60) as viewer,
        httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60) as admin,
    ):
        email = "stack-walker@example.com"
        body = {"email": email, "password": PASSWORD, "confirmed_password": PASSWORD}
        registered = await viewer.post("/api/register/", json=body)
        assert registered.status_code == 201, registered.text
        uid, token = (await mail_to(smtp, email)).uid_and_token()
        assert (await viewer.get(f"/api/activate/{uid}/{token}/")).status_code == 200
        login = await viewer.post("/api/login/", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text

        assert (await admin.post("/api/login/", json=ADMIN)).status_code == 200
        admin.headers["X-CSRFToken"] = admin.cookies["csrftoken"]
        with clip.open("rb") as fh:
            created = await admin.post(
                "/api/admin/videos/",
                data={"title": "Stack", "description": "d", "category": "c"},
                files={"file": (clip.name, fh, "video/mp4")},
            )
        assert created.status_code == 201, created.text
        video_id = created.json()["id"]

        async def detail() -> dict:  # type: ignore[type-arg]
            answer = (await admin.get(f"/api/admin/videos/{video_id}/")).json()
            assert answer["status"] != "failed", answer
            return answer

        await eventually(detail, lambda b: b["status"] == "ready", within=120, interval=0.5)
        master = await viewer.get(f"/api/video/{video_id}/master.m3u8")
        assert master.status_code == 200 and "480p/index.m3u8" in master.text, master.text
        playlist = await viewer.get(f"/api/video/{video_id}/480p/index.m3u8")
        assert playlist.status_code == 200 and ".ts" in playlist.text, playlist.text


def start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stack", "--throwaway"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,  # a Ctrl-C of our own, not the terminal's
    )


async def databases_like(server_url: str, pattern: str) -> list[str]:
    conn = await asyncpg.connect(server_url)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", pattern)
        return [r["datname"] for r in rows]
    finally:
        await conn.close()


async def test_make_stack_runs_a_journey_and_stops_on_ctrl_c(
    postgres_server_url: str,
    rabbitmq_server_url: str,
    redis_server_url: str,
    smtp_capture: SmtpCapture,
    tmp_path: Path,
) -> None:
    clip = await asyncio.to_thread(make_clip, tmp_path / "stack.mp4", size="640x360", seconds=2)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in NOT_PASSED}
    env |= {
        "STACK_POSTGRES_URL": postgres_server_url,
        "STACK_RABBITMQ_URL": rabbitmq_server_url,
        "STACK_REDIS_URL": redis_server_url,
        "STACK_DATA_DIR": str(tmp_path / "stack"),
        "PORT": str(port),
        "SMTP_HOST": smtp_capture.host,
        "SMTP_PORT": str(smtp_capture.port),
        "ADMIN_EMAIL": ADMIN["email"],
        "ADMIN_PASSWORD": ADMIN["password"],
        "ENVIRONMENT": "test",
        "TRANSCODE_PRESET": "ultrafast",
    }
    command = start(env)
    output = Output(command)
    try:
        await eventually(
            lambda: output.text,
            lambda text: READY in text or command.poll() is not None,
            within=START_LIMIT,
            interval=0.2,
            failure=lambda text: f"no ready line after {START_LIMIT}s:\n{text[-5000:]}",
        )
        assert command.poll() is None, output.text[-5000:]
        assert f"{READY} http://127.0.0.1:{port}" in output.text
        for name in ("identity", "catalog", "mailer", "transcoder", "transcoder-2", "gateway"):
            line = re.search(rf"^\s+{name}:\s+http://127\.0\.0\.1:\d+.*$", output.text, re.M)
            assert line, name
            metrics = re.search(r"metrics: :(\d+)/metrics", line[0])  # each its own listener
            assert metrics, line[0]
            async with httpx.AsyncClient() as client:
                scraped = await client.get(f"http://127.0.0.1:{metrics[1]}/metrics")
            assert scraped.status_code == 200, name
        assert f"SMTP {smtp_capture.host}:{smtp_capture.port}" in output.text
        made = re.search(r"databases: (\S+)_identity, ", output.text)
        assert made, output.text
        children = list(descendants(command.pid))
        assert len(children) >= 7, children  # six services and moto

        async with asyncio.timeout(JOURNEY_LIMIT):
            await journey(f"http://127.0.0.1:{port}", smtp_capture, clip)

        stopped_at = time.monotonic()
        command.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(command.wait, 60)
        assert code == 0, output.text[-5000:]
        assert time.monotonic() - stopped_at < 60
        assert [pid for pid in children if alive(pid)] == []
        assert await databases_like(postgres_server_url, f"{made[1]}%") == []
        assert "stack: stopped" in output.text
    finally:
        if command.poll() is None:  # the test failed before its Ctrl-C: leave nothing behind
            command.send_signal(signal.SIGINT)
            try:
                command.wait(60)
            except subprocess.TimeoutExpired:
                command.kill()
