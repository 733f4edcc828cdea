"""The CLI's client side against a stand-in of the admin API (tests/support/admin_api.py):
tus offsets and resumption, the Bearer session and its refresh, sidecars and event parsing.
What the real all-in-one does with it is in test_cli.py."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from admincli import batch, tus, watching
from admincli.api import AdminApi
from admincli.errors import ApiError, CliError, NotLoggedIn
from admincli.events import parse_events
from admincli.importing import plan_import
from admincli.session import Credentials, SessionStore, UploadStore, config_dir
from admincli.uploads import Metadata, upload_file
from admincli.watching import follow
from tests.support.admin_api import EMAIL, PASSWORD, URL, FakeAdminApi

META = Metadata(title="Lecture one", category="Lectures", description="The first")
SIZE = 1_000_000


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(tus.time, "sleep", lambda _: None)
    monkeypatch.setattr(watching.time, "sleep", lambda _: None)
    return tmp_path / "config"


@pytest.fixture
def fake() -> FakeAdminApi:
    return FakeAdminApi()


@pytest.fixture
def api(fake: FakeAdminApi) -> AdminApi:
    client = AdminApi(URL, transport=fake.transport())
    client.login(EMAIL, PASSWORD)
    return client


@pytest.fixture
def movie(tmp_path: Path) -> Path:
    path = tmp_path / "lecture_one.mp4"
    path.write_bytes(os.urandom(SIZE))
    return path


def test_login_keeps_the_tokens_private_and_sends_them_as_bearer_only(
    fake: FakeAdminApi, api: AdminApi, config_home: Path
) -> None:
    saved = SessionStore(URL).path
    assert saved.parent.parent == config_dir() == config_home / "videoflix"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir().stat().st_mode) == 0o700
    assert json.loads(saved.read_text())["refresh"] == "refresh-1"
    api.videos()
    last = fake.requests[-1]
    assert last.headers["authorization"] == "Bearer access-1"
    assert "cookie" not in last.headers  # a cookie would make every write need the CSRF header


def test_a_wrong_password_is_the_apis_message(fake: FakeAdminApi) -> None:
    with pytest.raises(ApiError, match=r"^Wrong email or password\. \(HTTP 401\)$"):
        AdminApi(URL, transport=fake.transport()).login(EMAIL, "nope")
    with pytest.raises(NotLoggedIn):
        AdminApi(URL, transport=fake.transport()).videos()


def test_an_expired_access_token_is_refreshed_once_and_the_rotated_pair_kept(
    fake: FakeAdminApi, api: AdminApi
) -> None:
    fake.expire_access()
    assert api.videos() == []
    assert SessionStore(URL).load().refresh == "refresh-2"  # type: ignore[union-attr]
    # a new run (new client) goes on with the saved pair
    assert AdminApi(URL, transport=fake.transport()).videos() == []


def test_a_spent_session_asks_for_a_new_login(fake: FakeAdminApi, api: AdminApi) -> None:
    fake.expire_access()
    fake.refresh = "revoked"
    with pytest.raises(NotLoggedIn, match="login"):
        api.videos()
    assert SessionStore(URL).load() is None


def test_upload_sends_the_file_in_chunks_with_its_metadata(
    fake: FakeAdminApi, api: AdminApi, movie: Path
) -> None:
    seen: list[int] = []
    outcome = upload_file(
        api, UploadStore(URL), movie, META, on_progress=seen.append, chunk_size=400_000
    )
    upload = fake.uploads["u1"]
    assert bytes(upload.data) == movie.read_bytes()
    assert upload.metadata == {
        "filename": "lecture_one.mp4",
        "title": "Lecture one",
        "description": "The first",
        "category": "Lectures",
    }
    assert fake.patched == [(0, 400_000), (400_000, 400_000), (800_000, 200_000)]
    assert (outcome.video_id, outcome.resumed_from, outcome.skipped) == (1, 0, False)
    assert seen == sorted(seen) and seen[-1] == SIZE


def test_a_cut_upload_resumes_at_the_servers_offset_on_the_next_run(
    fake: FakeAdminApi, api: AdminApi, movie: Path
) -> None:
    fake.cut_after = 300_000
    with pytest.raises(tus.Interrupted, match="Run the same command again"):
        upload_file(api, UploadStore(URL), movie, META, retries=0)
    assert len(fake.uploads["u1"].data) == 300_000

    again = AdminApi(URL, transport=fake.transport())  # a new run
    outcome = upload_file(again, UploadStore(URL), movie, META)
    assert outcome.resumed_from == 300_000
    assert fake.patched[-1] == (300_000, SIZE - 300_000)  # the rest only
    assert list(fake.uploads) == ["u1"]  # no second upload
    assert bytes(fake.uploads["u1"].data) == movie.read_bytes()


def test_a_cut_connection_is_retried_within_the_run(
    fake: FakeAdminApi, api: AdminApi, movie: Path
) -> None:
    fake.cut_after = 123_456
    outcome = upload_file(api, UploadStore(URL), movie, META, retries=1)
    assert fake.patched == [(0, 123_456), (123_456, SIZE - 123_456)]
    assert bytes(fake.uploads["u1"].data) == movie.read_bytes()
    assert outcome.video_id == 1


def test_an_expired_upload_starts_over_and_other_metadata_is_another_upload(
    fake: FakeAdminApi, api: AdminApi, movie: Path
) -> None:
    store = UploadStore(URL)
    fake.cut_after = 1000
    with pytest.raises(tus.Interrupted):
        upload_file(api, store, movie, META, retries=0)
    del fake.uploads["u1"]  # expired on the server
    upload_file(api, store, movie, META)
    assert bytes(fake.uploads["u2"].data) == movie.read_bytes()

    fake.cut_after = 1000
    with pytest.raises(tus.Interrupted):
        upload_file(api, store, movie, META, retries=0)  # the finished one is not resumed
    retitled = Metadata(title="Another title", category="Lectures")
    upload_file(api, store, movie, retitled)
    assert "u3" not in fake.uploads  # terminated (DELETE), not resumed under the old title
    assert fake.uploads["u4"].metadata["title"] == "Another title"


def test_a_finished_file_is_skipped_when_asked_unless_its_video_is_gone(
    fake: FakeAdminApi, api: AdminApi, movie: Path
) -> None:
    store = UploadStore(URL)
    first = upload_file(api, store, movie, META)
    again = upload_file(api, store, movie, META, skip_done=True)
    assert again.skipped and again.video_id == first.video_id
    assert len(fake.uploads) == 1
    api.delete(first.video_id)
    third = upload_file(api, store, movie, META, skip_done=True)
    assert not third.skipped and len(fake.uploads) == 2


def test_field_errors_of_the_creation_are_shown(api: AdminApi, movie: Path) -> None:
    with pytest.raises(ApiError, match=r"title: This field may not be blank\."):
        upload_file(api, UploadStore(URL), movie, Metadata(title="", category="x"))


def test_metadata_encoding() -> None:
    assert tus.encode_metadata({"title": "Ünïcode, yes", "description": ""}) == (
        "title w5xuw69jb2RlLCB5ZXM="
    )


def test_event_stream_parsing() -> None:
    lines = [
        ": keep-alive",
        "event: video",
        'data: {"id": 3, "status": "processing"}',
        "",
        "event: deleted",
        'data: {"id": 4}',
        "",
        "data: plain",
        "data: text",
        "",
        "event: empty",
        "",
    ]
    assert list(parse_events(lines)) == [
        ("video", {"id": 3, "status": "processing"}),
        ("deleted", {"id": 4}),
        ("message", "plain\ntext"),
    ]


def test_import_plan_from_a_csv_sidecar_and_file_names(tmp_path: Path) -> None:
    folder = tmp_path / "Physics"
    folder.mkdir()
    for name in ("b_waves-and-light.mp4", "a.MOV", "notes.txt", "broken.bin"):
        (folder / name).write_bytes(b"x")
    (folder / "videos.csv").write_text(
        "file,title,description,category\n"
        'a.MOV,"Atoms, first",About atoms,Chemistry\n'
        "broken.bin,Broken,,\n"
    )
    plan = plan_import(folder)
    assert [(i.path.name, i.metadata) for i in plan] == [
        ("a.MOV", Metadata("Atoms, first", "Chemistry", "About atoms")),
        ("b_waves-and-light.mp4", Metadata("B waves and light", "Physics", "")),
        ("broken.bin", Metadata("Broken", "Physics", "")),  # named by the sidecar
    ]
    assert plan_import(folder, category="Science")[1].metadata.category == "Science"


def test_import_plan_from_a_json_sidecar(tmp_path: Path) -> None:
    (tmp_path / "one.webm").write_bytes(b"x")
    (tmp_path / "videos.json").write_text(json.dumps({"one.webm": {"title": "One"}}))
    assert plan_import(tmp_path, category="C")[0].metadata == Metadata("One", "C", "")
    (tmp_path / "videos.json").write_text(json.dumps([{"file": "gone.mp4"}]))
    with pytest.raises(CliError, match=r"gone\.mp4"):
        plan_import(tmp_path)


def _processing(fake: FakeAdminApi) -> int:
    fake.videos[5] = {"id": 5, "title": "T", "status": "processing", "progress": 0}
    return 5


def test_follow_reads_the_event_stream_until_the_video_is_ready(
    fake: FakeAdminApi, api: AdminApi
) -> None:
    video = _processing(fake)
    fake.events = [
        ("video", {"id": 4, "status": "failed"}),  # another video
        ("video", {"id": video, "status": "processing", "progress": 40}),
        ("video", {"id": video, "status": "ready", "progress": 100}),
    ]
    seen: list[dict] = []
    assert follow(api, video, seen.append)["status"] == "ready"
    assert [v.get("progress") for v in seen] == [0, 40, 100]


def test_follow_polls_where_there_is_no_event_stream_and_tells_a_deletion(
    fake: FakeAdminApi, api: AdminApi
) -> None:
    video = _processing(fake)
    fake.states[video] = [{}, {"progress": 50}, {"status": "failed", "error": "Not a video."}]
    final = follow(api, video, lambda _: None)
    assert (final["status"], final["error"]) == ("failed", "Not a video.")

    fake.events = [("deleted", {"id": _processing(fake)})]
    with pytest.raises(CliError, match="Video 5 was deleted"):
        follow(api, video, lambda _: None)


def test_a_server_that_is_no_videoflix_is_told_not_a_traceback() -> None:
    html = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>hello</html>"))
    with pytest.raises(CliError, match="without the session cookies"):
        AdminApi(URL, transport=html).login(EMAIL, PASSWORD)
    SessionStore(URL).save(Credentials(EMAIL, "a", "r"))
    with pytest.raises(CliError, match="without JSON: is --url a Videoflix gateway"):
        AdminApi(URL, transport=html).videos()
    with pytest.raises(CliError, match="without a valid Upload-Offset"):
        tus.TusClient(AdminApi(URL, transport=html)).state(f"{URL}/api/admin/uploads/x")


def test_a_config_folder_that_cannot_be_written_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocked))
    with pytest.raises(CliError, match=r"Cannot write to .*set XDG_CONFIG_HOME"):
        SessionStore(URL).save(Credentials(EMAIL, "a", "r"))


def test_ctrl_c_midway_stops_the_batch_and_the_next_run_resumes(
    fake: FakeAdminApi, api: AdminApi, movie: Path
) -> None:
    fake.cut_after, fake.cut_raises = 200_000, KeyboardInterrupt
    items = [(movie, META)]
    with pytest.raises(batch.Stopped, match="the same command again resumes") as stopped:
        batch.send_all(api, items, skip_done=True, chunk_size=tus.CHUNK_SIZE, retries=3)
    assert stopped.value.exit_code == 130
    assert len(fake.uploads["u1"].data) == 200_000
    (result,) = batch.send_all(api, items, skip_done=True, chunk_size=tus.CHUNK_SIZE, retries=3)
    assert result[2].resumed_from == 200_000  # type: ignore[union-attr]
    assert bytes(fake.uploads["u1"].data) == movie.read_bytes()
