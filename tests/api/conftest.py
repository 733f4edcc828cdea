"""A real all-in-one (`python -m allinone`) on a free loopback port, with one ready video and
an admin session, for the tests that speak to the public API over the network."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.allinone import RunningAllInOne, allinone_process
from tests.support.media import make_clip
from tests.support.waiting import eventually_blocking

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "schemathesis-admin-password"
# generous per-address limits: the fuzzer should reach the logic behind login, register and
# reset, not their 429 (which the schema declares and tests/gateway check)
GENEROUS_LIMIT = "100000"


@dataclass(frozen=True)
class Session:
    access: str
    refresh: str
    csrf: str


@dataclass(frozen=True)
class RunningApi(RunningAllInOne):
    def login(self) -> Session:
        response = httpx.post(
            f"{self.url}/api/login/",
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        cookies = response.cookies
        return Session(cookies["access_token"], cookies["refresh_token"], cookies["csrftoken"])


@contextlib.contextmanager
def allinone(workdir: Path) -> Iterator[RunningApi]:
    with allinone_process(
        workdir,
        LOG_LEVEL="WARNING",
        ADMIN_EMAIL=ADMIN_EMAIL,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        RATE_LIMIT_LOGIN=GENEROUS_LIMIT,
        RATE_LIMIT_REGISTER=GENEROUS_LIMIT,
        RATE_LIMIT_PASSWORD_RESET=GENEROUS_LIMIT,
    ) as running:
        yield RunningApi(running.url, running.log_path, running.process)


def upload_ready_video(api: RunningApi, session: Session, workdir: Path) -> int:
    """One short clip, uploaded and transcoded, so the video routes have something to serve."""
    clip = make_clip(workdir / "clip.mp4", size="160x120", seconds=1.0)
    with clip.open("rb") as file:
        response = httpx.post(
            f"{api.url}/api/admin/videos/",
            headers={"Authorization": f"Bearer {session.access}"},
            data={"title": "Clip", "description": "A test clip", "category": "Tests"},
            files={"file": ("clip.mp4", file, "video/mp4")},
            timeout=60,
        )
    assert response.status_code == 201, response.text
    video_id = int(response.json()["id"])

    def status() -> str:
        got = httpx.get(
            f"{api.url}/api/admin/videos/{video_id}/",
            headers={"Authorization": f"Bearer {session.access}"},
            timeout=10,
        )
        return str(got.json()["status"])

    eventually_blocking(status, lambda s: s != "processing", within=120, interval=0.5)
    assert status() == "ready", api.logs()
    return video_id


@pytest.fixture(scope="module")
def running_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    with allinone(tmp_path_factory.mktemp("api")) as api:
        yield api


@pytest.fixture(scope="module")
def ready_video(running_api: RunningApi, tmp_path_factory: pytest.TempPathFactory) -> int:
    """The id of a video uploaded and transcoded on the running API."""
    return upload_ready_video(running_api, running_api.login(), tmp_path_factory.mktemp("clip"))
