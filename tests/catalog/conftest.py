"""Fixtures of the catalog tests: a running catalog (tests/support/catalog.py) on SQLite or
on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.catalog import Catalog, running_catalog


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """Empty for the default SQLite file under DATA_DIR, or a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres_url")
    return ""


@pytest.fixture
async def catalog(tmp_path: Path, database_url: str) -> AsyncIterator[Catalog]:
    async with running_catalog(tmp_path, database_url=database_url) as running:
        yield running
