"""`videoflix-admin` against the real all-in-one (`python -m allinone` on a loopback port):
login, uploads through tus (one cut midway that a rerun resumes), the live status to ready,
a failing file and its retry, delete, the users and an import with a CSV sidecar."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from admincli.session import SessionStore, UploadStore, fingerprint
from tests.support.allinone import allinone
from tests.support.cli import cli, cutting_proxy
from tests.support.http import free_port
from tests.support.media import make_clip
from tests.support.platform import Outbox
from tests.support.waiting import eventually_blocking

ADMIN = ("cli-admin@example.com", "a long admin passphrase")
PASSWORD = "a long user passphrase"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The platform's URL and its DATA_DIR, for the whole module."""
    workdir = tmp_path_factory.mktemp("allinone")
    with allinone(
        workdir,
        ADMIN_EMAIL=ADMIN[0],
        ADMIN_PASSWORD=ADMIN[1],
        RATE_LIMIT_LOGIN="1000",
        RATE_LIMIT_REGISTER="1000",
    ) as url:
        yield url, workdir / "data"


@pytest.fixture
def url(server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's URL, with a config folder of this test's own, logged in as the admin."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    run = cli(server[0], "login", "--email", ADMIN[0], "--password", ADMIN[1])
    assert run.exit_code == 0, run.output
    return server[0]


def videos(url: str) -> dict[int, dict]:
    run = cli(url, "list", "--json")
    assert run.exit_code == 0, run.output
    return {video["id"]: video for video in json.loads(run.output)}


def video_id(output: str) -> int:
    found = re.search(r"video (\d+)", output)
    assert found, output
    return int(found.group(1))


def test_login_refresh_and_logout(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    run = cli(server[0], "login", "--email", ADMIN[0], "--password", "wrong")
    assert run.exit_code == 1
    assert "Error:" in run.output and "(HTTP 401)" in run.output
    run = cli(server[0], "list")
    assert run.exit_code == 1
    assert "Not logged in" in run.output and "videoflix-admin login" in run.output
    nowhere = f"http://127.0.0.1:{free_port()}"
    run = cli(nowhere, "login", "--email", ADMIN[0], "--password", ADMIN[1])
    assert run.exit_code == 1 and f"Cannot reach {nowhere}" in run.output, run.output
    # prompted, and from the environment
    run = cli(server[0], "login", input=f"{ADMIN[0]}\n{ADMIN[1]}\n")
    assert run.exit_code == 0, run.output
    monkeypatch.setenv("VIDEOFLIX_EMAIL", ADMIN[0])
    monkeypatch.setenv("VIDEOFLIX_PASSWORD", ADMIN[1])
    run = cli(server[0], "login")
    assert run.exit_code == 0 and f"as {ADMIN[0]}" in run.output, run.output

    # an access token the gateway refuses is renewed through the refresh token, which rotates
    store = SessionStore(server[0])
    before = store.load()
    assert before
    store.save(replace(before, access="expired"))
    assert cli(server[0], "list").exit_code == 0
    after = store.load()
    assert after and after.access != "expired" and after.refresh != before.refresh

    run = cli(server[0], "logout")
    assert run.exit_code == 0, run.output
    assert store.load() is None
    # the session is over on the server too
    refused = httpx.post(
        f"{server[0]}/api/token/refresh/", headers={"Cookie": f"refresh_token={after.refresh}"}
    )
    assert refused.status_code == 401


def test_upload_list_follow_to_ready_and_delete(url: str, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "first_clip.mp4", size="320x240", seconds=2)
    run = cli(url, "upload", str(clip), "--title", "First clip", "--category", "CLI tests")
    assert run.exit_code == 0, run.output
    new = video_id(run.output)
    listed = videos(url)[new]
    assert listed["title"] == "First clip" and listed["category"] == "CLI tests"
    assert listed["status"] in ("processing", "ready")

    run = cli(url, "status", str(new), "--follow")
    assert run.exit_code == 0, run.output
    assert "ready" in run.output
    ready = videos(url)[new]
    assert ready["status"] == "ready" and ready["renditions"] == ["480p"]
    assert ready["duration"] == pytest.approx(2.0, abs=0.3)
    table = cli(url, "list").output
    row = next(line for line in table.splitlines() if "First clip" in line)
    assert "ready" in row and "100%" in row and "480p" in row and "0:02" in row

    run = cli(url, "retry", str(new))  # only a failed video can be retried
    assert run.exit_code == 1 and "(HTTP 409)" in run.output, run.output

    run = cli(url, "delete", str(new), input="n\n")
    assert run.exit_code == 1 and new in videos(url)
    run = cli(url, "delete", str(new), "--yes")
    assert run.exit_code == 0 and f"Deleted video {new}" in run.output
    assert new not in videos(url)
    run = cli(url, "status", str(new))
    assert run.exit_code == 1 and "(HTTP 404)" in run.output, run.output


def test_a_file_that_is_no_video_fails_and_can_be_retried(url: str, tmp_path: Path) -> None:
    bogus = tmp_path / "not_a_video.mp4"
    bogus.write_bytes(os.urandom(50_000))
    run = cli(url, "upload", str(bogus), "--category", "CLI tests")
    assert run.exit_code == 0, run.output
    new = video_id(run.output)
    assert videos(url)[new]["title"] == "Not a video"  # from the file name

    run = cli(url, "status", str(new), "--follow")
    assert run.exit_code == 1, run.output
    failed = videos(url)[new]
    assert failed["status"] == "failed" and failed["error"]
    assert "failed" in run.output and failed["error"][:30] in run.output

    run = cli(url, "retry", str(new))
    assert run.exit_code == 0, run.output
    assert "processing" in run.output
    run = cli(url, "status", str(new), "--follow")
    assert run.exit_code == 1 and "failed" in run.output  # still no video, failed again


def test_an_upload_cut_midway_resumes_from_the_servers_offset(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    clip = make_clip(
        tmp_path / "noisy.mp4", size="320x240", seconds=2, video_filter="noise=alls=60:allf=t"
    )
    size = clip.stat().st_size
    assert size > 2 * MIB
    with cutting_proxy(server[0]) as proxy:
        url = proxy.url  # the CLI knows the server by this address
        assert cli(url, "login", "--email", ADMIN[0], "--password", ADMIN[1]).exit_code == 0
        proxy.sent, proxy.budget = 0, MIB + MIB // 2  # the network drops inside the 2nd MiB
        args = ["upload", str(clip), "--category", "CLI tests", "--chunk-size", "1"]
        run = cli(url, *args, "--retries", "0")
        assert run.exit_code == 1, run.output
        assert "Run the same command again to resume" in run.output

        record = UploadStore(url).get(fingerprint(clip))
        assert record and record.upload_url
        head = httpx.head(
            record.upload_url.replace(url, server[0]),
            headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {_token(url)}"},
        )
        held = int(head.headers["upload-offset"])
        assert MIB <= held < size  # the first chunk at least, not all

        proxy.restore()
        proxy.sent = 0
        run = cli(url, *args)
        assert run.exit_code == 0, run.output
        assert f"resumed at byte {held}" in run.output
        # the rest went over the wire, and only the rest (plus a few requests' headers)
        assert size - held <= proxy.sent < size - held + 16 * 1024
        new = video_id(run.output)
        assert cli(url, "status", str(new), "--follow").exit_code == 0  # intact: it transcodes


def _token(url: str) -> str:
    credentials = SessionStore(url).load()
    assert credentials
    return credentials.access


def test_import_a_folder_with_a_csv_sidecar_and_again(url: str, tmp_path: Path) -> None:
    folder = tmp_path / "Lectures"
    folder.mkdir()
    make_clip(folder / "b_second-lecture.mp4", size="320x240", seconds=1)
    make_clip(folder / "a.mp4", size="320x240", seconds=1)
    (folder / "notes.txt").write_text("not a video, not named by the sidecar")
    (folder / "videos.csv").write_text(
        'file,title,description,category\na.mp4,"Lecture one, intro",The start,Physics\n'
    )
    run = cli(url, "import", str(folder))
    assert run.exit_code == 0, run.output
    by_title = {v["title"]: v for v in videos(url).values()}
    one, two = by_title["Lecture one, intro"], by_title["B second lecture"]
    assert (one["category"], one["description"]) == ("Physics", "The start")
    assert (two["category"], two["description"]) == ("Lectures", "")  # the folder's name
    rows = [line for line in run.output.splitlines() if ".mp4" in line and "uploaded" in line]
    assert len(rows) == 2, run.output

    again = cli(url, "import", str(folder))
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped") == 2, again.output
    assert len([v for v in videos(url).values() if v["title"] in by_title]) == len(by_title)


def test_users_list_deactivate_and_activate(url: str, server: tuple[str, Path]) -> None:
    email = "cli-user@example.com"
    with httpx.Client(base_url=url, timeout=10) as client:
        body = {"email": email, "password": PASSWORD, "confirmed_password": PASSWORD}
        assert client.post("/api/register/", json=body).status_code == 201
        outbox = Outbox(server[1] / "outbox")
        mail = eventually_blocking(lambda: [m for m in outbox.all() if email in m.to], within=10)[0]
        uid, token = mail.uid_and_token()
        assert client.get(f"/api/activate/{uid}/{token}/").status_code == 200

        listed = json.loads(cli(url, "users", "list", "--search", "cli-user", "--json").output)
        assert [u["email"] for u in listed] == [email]
        user = listed[0]
        assert (user["is_admin"], user["activated"], user["is_active"]) == (False, True, True)
        table = cli(url, "users", "list").output
        assert email in table and ADMIN[0] in table

        run = cli(url, "users", "deactivate", str(user["id"]))
        assert run.exit_code == 0 and "deactivated" in run.output, run.output
        login = {"email": email, "password": PASSWORD}
        assert client.post("/api/login/", json=login).status_code in (401, 403)
        run = cli(url, "users", "activate", str(user["id"]))
        assert run.exit_code == 0 and "active again" in run.output, run.output
        assert client.post("/api/login/", json=login).status_code == 200

    admin = json.loads(cli(url, "users", "list", "--search", ADMIN[0], "--json").output)[0]
    run = cli(url, "users", "deactivate", str(admin["id"]))  # not oneself
    assert run.exit_code == 1 and "(HTTP 400)" in run.output, run.output
