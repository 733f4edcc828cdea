"""The transcoder's results: idempotent, order-tolerant, and tidy for deleted videos."""

from __future__ import annotations

from common.bus.topology import CATALOG
from common.events import Envelope, VideoFailed, VideoProgress, VideoTranscoded
from tests.support.catalog import ADMIN, BOTH_DATABASES, JPEG, PNG, USER, VIDEO, Catalog

pytestmark = BOTH_DATABASES


async def admin_view(catalog: Catalog, video_id: int) -> dict:  # type: ignore[type-arg]
    response = await catalog.client.get(f"/api/admin/videos/{video_id}/", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


async def listed_ids(catalog: Catalog) -> list[int]:
    response = await catalog.client.get("/api/video/", headers=USER)
    assert response.status_code == 200
    return [v["id"] for v in response.json()]


def transcoded(video_id: int, **overrides) -> VideoTranscoded:  # type: ignore[no-untyped-def]
    values = {
        "video_id": video_id,
        "renditions": ["720p", "480p"],
        "duration": 61.2,
        "width": 1280,
        "height": 720,
        "thumbnail_key": f"thumbnails/{video_id}.jpg",
    }
    values.update(overrides)
    return VideoTranscoded(**values)


async def test_progress_only_moves_forward(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.deliver(VideoProgress(video_id=video_id, percent=10))
    assert (await admin_view(catalog, video_id))["progress"] == 10
    await catalog.deliver(
        VideoProgress(video_id=video_id, percent=40), VideoProgress(video_id=video_id, percent=25)
    )
    view = await admin_view(catalog, video_id)
    assert view["progress"] == 40
    assert view["status"] == "processing"


async def test_transcoded_makes_the_video_ready_and_listed(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.store.put_bytes(f"thumbnails/{video_id}.jpg", JPEG, "image/jpeg")
    assert await listed_ids(catalog) == []
    await catalog.deliver(transcoded(video_id))

    view = await admin_view(catalog, video_id)
    assert view["status"] == "ready"
    assert view["progress"] == 100
    assert view["renditions"] == ["480p", "720p"]  # lowest first
    assert view["duration"] == 61.2
    assert (view["width"], view["height"]) == (1280, 720)
    assert view["error"] is None
    assert view["thumbnail_url"].startswith(f"https://videoflix.example/api/thumbnails/{video_id}/")
    assert await listed_ids(catalog) == [video_id]


async def test_transcoded_records_the_bytes_of_each_rendition(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    sizes = {"720p": 52_000, "480p": 21_000, "1080p": 99}  # 1080p: not among the renditions
    await catalog.deliver(transcoded(video_id, rendition_bytes=sizes))
    view = await admin_view(catalog, video_id)
    assert view["rendition_bytes"] == {"480p": 21_000, "720p": 52_000}
    assert view["source_bytes"] == len(VIDEO)


async def test_a_transcoded_message_without_sizes_still_parses(catalog: Catalog) -> None:
    """A message a transcoder of before the sizes left in the queue: ready, sizes unknown."""
    video_id = (await catalog.uploaded())["id"]
    payload = transcoded(video_id).model_dump(mode="json")
    del payload["rendition_bytes"]
    assert VideoTranscoded.model_validate(payload).rendition_bytes == {}
    await catalog.deliver(Envelope(routing_key="video.transcoded", payload=payload))
    view = await admin_view(catalog, video_id)
    assert (view["status"], view["renditions"]) == ("ready", ["480p", "720p"])
    assert view["rendition_bytes"] == {}


async def test_late_progress_never_moves_a_ready_video_back(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.make_ready(video_id)
    await catalog.deliver(VideoProgress(video_id=video_id, percent=50))
    view = await admin_view(catalog, video_id)
    assert (view["status"], view["progress"]) == ("ready", 100)


async def test_failed_shows_the_reason_and_is_not_listed(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.deliver(VideoProgress(video_id=video_id, percent=30))
    await catalog.deliver(
        VideoFailed(video_id=video_id, reason="The file is not a video\n(no video stream).")
    )
    view = await admin_view(catalog, video_id)
    assert view["status"] == "failed"
    assert view["error"] == "The file is not a video (no video stream)."
    assert await listed_ids(catalog) == []

    # a late progress changes nothing
    await catalog.deliver(VideoProgress(video_id=video_id, percent=90))
    assert (await admin_view(catalog, video_id))["progress"] == 30


async def test_failed_after_ready_is_ignored(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.make_ready(video_id)
    await catalog.deliver(VideoFailed(video_id=video_id, reason="time-out"))
    view = await admin_view(catalog, video_id)
    assert view["status"] == "ready" and view["error"] is None
    assert await listed_ids(catalog) == [video_id]


async def test_a_success_after_a_failure_wins(catalog: Catalog) -> None:
    """A redelivered job that succeeded after an earlier attempt reported failure."""
    video_id = (await catalog.uploaded())["id"]
    await catalog.deliver(VideoFailed(video_id=video_id, reason="worker lost"))
    await catalog.make_ready(video_id)
    view = await admin_view(catalog, video_id)
    assert view["status"] == "ready" and view["error"] is None


async def test_duplicate_deliveries_are_harmless(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.store.put_bytes(f"thumbnails/{video_id}.jpg", JPEG, "image/jpeg")
    envelope = transcoded(video_id).envelope()
    await catalog.deliver(envelope, envelope)
    first = await admin_view(catalog, video_id)
    await catalog.deliver(envelope)
    assert await admin_view(catalog, video_id) == first  # same thumbnail version too
    assert await listed_ids(catalog) == [video_id]
    assert await catalog.bus.dead_letters(CATALOG.name) == []


async def test_results_in_any_order_end_the_same(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.store.put_bytes(f"thumbnails/{video_id}.jpg", JPEG, "image/jpeg")
    await catalog.deliver(
        transcoded(video_id),
        VideoProgress(video_id=video_id, percent=99),
        VideoProgress(video_id=video_id, percent=10),
        VideoFailed(video_id=video_id, reason="late failure"),
    )
    view = await admin_view(catalog, video_id)
    assert (view["status"], view["progress"], view["error"]) == ("ready", 100, None)


async def test_the_custom_thumbnail_wins_over_the_generated_one(catalog: Catalog) -> None:
    uploaded = await catalog.uploaded(thumbnail=("t.png", PNG, "image/png"))
    video_id = uploaded["id"]
    await catalog.store.put_bytes(f"thumbnails/{video_id}.jpg", JPEG, "image/jpeg")
    await catalog.deliver(transcoded(video_id))
    view = await admin_view(catalog, video_id)
    assert view["thumbnail_url"] == uploaded["thumbnail_url"]
    # the generated one is not used, so it is not kept either
    keys = await catalog.store.list_keys("thumbnails/")
    assert keys == [f"thumbnails/{video_id}.{uploaded['thumbnail_url'].rsplit('/', 1)[1][:-4]}.png"]


async def test_a_thumbnail_key_outside_the_video_is_ignored(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    other = (await catalog.uploaded())["id"]
    await catalog.store.put_bytes(f"thumbnails/{other}.jpg", JPEG, "image/jpeg")
    for key in (f"thumbnails/{other}.jpg", "sources/1/clip.mp4", f"thumbnails/{video_id}/../x"):
        await catalog.deliver(transcoded(video_id, thumbnail_key=key))
    view = await admin_view(catalog, video_id)
    assert view["status"] == "ready"
    assert view["thumbnail_url"] is None  # no thumbnail: ready, but not listed yet
    assert await listed_ids(catalog) == []
    assert await catalog.store.list_keys(f"thumbnails/{other}.") == [f"thumbnails/{other}.jpg"]


async def test_transcoded_without_a_known_rendition_fails(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.deliver(transcoded(video_id, renditions=["240p"]))
    view = await admin_view(catalog, video_id)
    assert view["status"] == "failed" and view["error"]


async def test_results_for_a_deleted_video_remove_its_leftovers(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    response = await catalog.client.delete(f"/api/admin/videos/{video_id}/", headers=ADMIN)
    assert response.status_code == 204
    # the transcoder finishes anyway, writing its outputs after the delete
    await catalog.put_hls(video_id)
    await catalog.store.put_bytes(f"thumbnails/{video_id}.jpg", JPEG, "image/jpeg")
    await catalog.deliver(VideoProgress(video_id=video_id, percent=80), transcoded(video_id))
    assert await catalog.all_keys() == []

    await catalog.put_hls(video_id, ["480p"])
    await catalog.deliver(VideoFailed(video_id=video_id, reason="too late"))
    assert await catalog.all_keys() == []
    assert await catalog.bus.dead_letters(CATALOG.name) == []
    assert_json = await catalog.client.get(f"/api/admin/videos/{video_id}/", headers=ADMIN)
    assert assert_json.status_code == 404


async def test_malformed_results_are_parked_not_retried_forever(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    bad = Envelope(routing_key="video.progress", payload={"video_id": video_id, "percent": 400})
    await catalog.deliver(bad)
    (parked,) = await catalog.bus.dead_letters(CATALOG.name)
    assert parked.id == bad.id
    assert (await admin_view(catalog, video_id))["progress"] == 0


async def test_impossible_ids_are_acknowledged(catalog: Catalog) -> None:
    await catalog.deliver(
        VideoFailed(video_id=0, reason="x"), VideoProgress(video_id=2**40, percent=5)
    )
    assert await catalog.bus.dead_letters(CATALOG.name) == []
