"""Migrations apply on both databases, and replicas starting at once do not collide."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

import catalog.app
import identity.app
from common.db import async_url
from common.migrations import upgrade

SERVICES = {"identity": identity.app.MIGRATIONS, "catalog": catalog.app.MIGRATIONS}


async def tables(url: str) -> set[str]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_migrations_apply_twice_on_sqlite(service: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / f'{service}.sqlite3'}"
    await upgrade(SERVICES[service], url)
    await upgrade(SERVICES[service], url)  # already at head: nothing to do
    assert {"alembic_version", "outbox_messages"} <= await tables(url)


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_concurrent_migrations_on_postgresql(service: str, postgres_url: str) -> None:
    """Three replicas run `migrate` on the same fresh database at once: the advisory lock
    makes one do the work and the others find it done, instead of failing on existing
    tables."""
    env = {**os.environ, "DATABASE_URL": postgres_url, "LOG_JSON": "false"}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", service, "migrate", env=env, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    results = await asyncio.gather(*(p.communicate() for p in procs))
    for proc, (_, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr.decode()[-2000:]
    assert {"alembic_version", "outbox_messages"} <= await tables(postgres_url)
