"""Nothing uploaded is lost when the platform restarts over a bus that keeps nothing."""

from __future__ import annotations

from pathlib import Path

from common.bus.memory import InMemoryBus
from common.bus.rabbitmq import RabbitMQBus
from tests.support.catalog import PNG, USER, running_catalog


def test_only_the_in_memory_bus_forgets_on_restart() -> None:
    assert InMemoryBus.durable is False
    assert RabbitMQBus.durable is True


async def test_jobs_of_videos_still_processing_are_issued_again(tmp_path: Path) -> None:
    async with running_catalog(tmp_path) as first:
        interrupted = await first.uploaded(title="Interrupted")
        finished = await first.ready_video(title="Finished")
        custom = await first.uploaded(title="Own thumbnail", thumbnail=("t.png", PNG, "image/png"))
        assert len(await first.wait_for_jobs(3)) == 3
    # the process stopped before the transcoder got to two of them; its bus is gone

    async with running_catalog(tmp_path) as second:
        jobs = await second.wait_for_jobs(2)
        assert {job.video_id for job in jobs} == {interrupted["id"], custom["id"]}
        by_id = {job.video_id: job for job in jobs}
        assert by_id[custom["id"]].has_custom_thumbnail is True
        assert by_id[interrupted["id"]].source_key.startswith(f"sources/{interrupted['id']}/")
        assert finished["id"] not in by_id

        await second.make_ready(interrupted["id"])
        listed = (await second.client.get("/api/video/", headers=USER)).json()
        assert {v["id"] for v in listed} == {finished["id"], interrupted["id"]}
