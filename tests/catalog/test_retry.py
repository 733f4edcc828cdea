"""POST /api/admin/videos/<id>/retry/: a failed video is transcoded again from its upload."""

from __future__ import annotations

from typing import Any

from common.events import VideoFailed, VideoProgress
from tests.support.catalog import ADMIN, BOTH_DATABASES, JPEG, USER, Catalog
from tests.support.http import assert_json_error


async def _failed(catalog: Catalog, **upload: Any) -> dict[str, Any]:
    video = await catalog.uploaded(**upload)
    await catalog.wait_for_jobs(1)
    await catalog.deliver(VideoFailed(video_id=video["id"], reason="No video stream found."))
    failed = (await catalog.client.get(f"/api/admin/videos/{video['id']}/", headers=ADMIN)).json()
    assert failed["status"] == "failed" and failed["error"] == "No video stream found."
    return failed


@BOTH_DATABASES
async def test_retry_starts_a_failed_video_over_with_the_same_job(catalog: Catalog) -> None:
    video = await _failed(catalog, thumbnail=("t.jpg", JPEG, "image/jpeg"))
    video_id = video["id"]

    response = await catalog.client.post(f"/api/admin/videos/{video_id}/retry/", headers=ADMIN)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {**video, "status": "processing", "progress": 0, "error": None}
    first, second = await catalog.wait_for_jobs(2)
    assert second == first  # the same source, the admin's own thumbnail kept
    assert second.has_custom_thumbnail and second.source_key.startswith(f"sources/{video_id}/")
    assert await catalog.store.stat(second.source_key)

    # the new run's progress counts from 0 again, and it can end ready
    await catalog.deliver(VideoProgress(video_id=video_id, percent=40))
    shown = (await catalog.client.get(f"/api/admin/videos/{video_id}/", headers=ADMIN)).json()
    assert (shown["status"], shown["progress"], shown["error"]) == ("processing", 40, None)
    await catalog.make_ready(video_id)
    ready = (await catalog.client.get(f"/api/admin/videos/{video_id}/", headers=ADMIN)).json()
    assert ready["status"] == "ready"


async def test_only_a_failed_video_can_be_retried(catalog: Catalog) -> None:
    processing = await catalog.uploaded()
    ready = await catalog.ready_video()
    for video in (processing, ready):
        for path in (
            f"/api/admin/videos/{video['id']}/retry/",
            f"/api/admin/videos/{video['id']}/retry",
        ):
            response = await catalog.client.post(path, headers=ADMIN)
            assert_json_error(response, 409, detail=True)
            assert "failed" in response.json()["detail"]
    failed = await _failed(catalog)
    assert (
        await catalog.client.post(f"/api/admin/videos/{failed['id']}/retry", headers=ADMIN)
    ).status_code == 202
    again = await catalog.client.post(f"/api/admin/videos/{failed['id']}/retry/", headers=ADMIN)
    assert_json_error(again, 409, detail=True)  # it is processing now
    assert len(await catalog.wait_for_jobs(4)) == 4  # two uploads, one ready, one retry


async def test_retry_of_a_video_whose_file_is_gone_is_refused_and_changes_nothing(
    catalog: Catalog,
) -> None:
    video = await _failed(catalog)
    job = (await catalog.wait_for_jobs(1))[0]
    await catalog.store.delete(job.source_key)

    response = await catalog.client.post(f"/api/admin/videos/{video['id']}/retry/", headers=ADMIN)

    assert_json_error(response, 409, detail=True)
    assert "upload it again" in response.json()["detail"]
    after = (await catalog.client.get(f"/api/admin/videos/{video['id']}/", headers=ADMIN)).json()
    assert after == video
    assert len(catalog.jobs) == 1


async def test_retry_of_an_unknown_video_or_by_a_non_admin(catalog: Catalog) -> None:
    video = await _failed(catalog)
    for unknown in ("999999", "abc", "99999999999999999999999"):
        response = await catalog.client.post(f"/api/admin/videos/{unknown}/retry/", headers=ADMIN)
        assert_json_error(response, 404, detail=True)
    path = f"/api/admin/videos/{video['id']}/retry/"
    assert_json_error(await catalog.client.post(path, headers=USER), 403, detail=True)
    assert_json_error(await catalog.client.post(path), 401, detail=True)
    assert_json_error(await catalog.client.get(path, headers=ADMIN), 405, detail=True)
    still = (await catalog.client.get(f"/api/admin/videos/{video['id']}/", headers=ADMIN)).json()
    assert still["status"] == "failed"
