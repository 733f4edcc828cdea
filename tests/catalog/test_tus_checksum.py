"""tus's checksum extension on the catalog (local store; the storing is the same as without):
a matching body is kept, across part boundaries; a mismatch is 460 and keeps none of the
body; a cut body with a checksum keeps none either (it cannot be checked)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.storage.local import LocalObjectStore
from tests.support.http import assert_json_error
from tests.support.media import pattern
from tests.support.tus import PART, TusCatalog, cut_after, pieces, tus_catalog
from tests.support.waiting import eventually


@pytest.fixture
async def tus(tmp_path: Path) -> AsyncIterator[TusCatalog]:
    async with tus_catalog(tmp_path, LocalObjectStore(tmp_path / "objects")) as running:
        yield running


def checksum(algorithm: str, data: bytes) -> dict[str, str]:
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    return {"Upload-Checksum": f"{algorithm} {digest}"}


async def test_matching_bodies_are_kept_and_a_mismatch_keeps_nothing(tus: TusCatalog) -> None:
    data = pattern(2 * PART + 99, seed=11)
    url = await tus.create(len(data))
    first = data[: PART + 10]  # a full part and a tail
    answer = await tus.patch(url, 0, pieces(first, 65536), **checksum("sha1", first))
    assert answer.status_code == 204, answer.text
    assert answer.headers["upload-offset"] == str(len(first))

    rest = data[len(first) :]
    wrong = await tus.patch(url, len(first), rest, **checksum("sha256", rest[:-1] + b"x"))
    assert_json_error(wrong, 460, detail=True)
    assert wrong.headers["tus-resumable"] == "1.0.0"
    assert await tus.offset(url) == len(first)

    cut = await tus.patch(url, len(first), cut_after(rest[:1000], 100), **checksum("md5", rest))
    assert cut.status_code == 400
    assert await tus.offset(url) == len(first)  # a cut body cannot be checked: none of it

    for bad in ("sha1", "crc32 AAAA", "sha1 not-base64!", "md5 " + base64.b64encode(b"x").decode()):
        answer = await tus.patch(url, len(first), rest, **{"Upload-Checksum": bad})
        assert_json_error(answer, 400, detail=True)

    last = await tus.patch(url, len(first), pieces(rest, 65536), **checksum("md5", rest))
    assert last.status_code == 204, last.text
    assert last.headers["upload-offset"] == str(len(data))
    (job,) = await eventually(lambda: tus.jobs, lambda jobs: len(jobs) == 1)
    assert await tus.store.get_bytes(job.source_key) == data
