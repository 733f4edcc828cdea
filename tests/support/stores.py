"""The object-store fixtures parametrised over both adapters: `target` says where a test's
objects live (a local directory, or a bucket of its own on a real S3 server, `s3_target`,
skipped when none is configured) and `store` is the started adapter on it (`LocalObjectStore`
or `S3ObjectStore`), closed afterwards. A test module imports both fixtures and names them in
its `__all__`, so they are not taken for unused imports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.storage import ObjectStore
from common.storage.local import LocalObjectStore


@dataclass(frozen=True)
class Target:
    kind: str
    root: Path | None = None
    s3: object | None = None  # tests.support.services.S3Target


@pytest.fixture(params=["local", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "s3":
        return Target("s3", s3=request.getfixturevalue("s3_target"))
    return Target("local", root=tmp_path / "objects")


@pytest.fixture
async def store(target: Target) -> AsyncIterator[ObjectStore]:
    adapter: ObjectStore
    if target.kind == "s3":
        from common.storage.s3 import S3ObjectStore

        t = target.s3
        adapter = S3ObjectStore(
            endpoint=t.endpoint,  # type: ignore[attr-defined]
            access_key=t.access_key,  # type: ignore[attr-defined]
            secret_key=t.secret_key,  # type: ignore[attr-defined]
            bucket=t.bucket,  # type: ignore[attr-defined]
            secure=False,
        )
    else:
        assert target.root is not None
        adapter = LocalObjectStore(target.root)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()
