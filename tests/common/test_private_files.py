"""Private files: SQLite databases (with their WAL and shared memory) and the folders made
for them are readable by this user only."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from sqlalchemy import text

from common.db import Database
from common.private_files import create_private_file, private_directory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sqlite_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("service.sqlite3*"))


def assert_private(files: list[Path]) -> None:
    for path in files:
        assert mode(path) == 0o600, f"{path.name}: {oct(mode(path))}"


async def write_something(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS t (x TEXT)"))
        await conn.execute(text("INSERT INTO t VALUES ('x')"))


async def test_sqlite_files_and_their_new_folder_are_private(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual one, which gives 0644 files
    try:
        database = Database(f"sqlite:///{tmp_path / 'data' / 'deep' / 'service.sqlite3'}")
        try:
            await write_something(database)
            files = sqlite_files(tmp_path / "data" / "deep")
            names = [p.name for p in files]
            assert names == ["service.sqlite3", "service.sqlite3-shm", "service.sqlite3-wal"]
            assert_private(files)
        finally:
            await database.dispose()
    finally:
        os.umask(old_umask)
    assert mode(tmp_path / "data") == mode(tmp_path / "data" / "deep") == 0o700


async def test_files_of_an_older_version_are_made_private(tmp_path: Path) -> None:
    path = tmp_path / "service.sqlite3"
    first = Database(f"sqlite:///{path}")
    await write_something(first)
    await first.dispose()
    for p in (path, tmp_path / "service.sqlite3-wal", tmp_path / "service.sqlite3-shm"):
        p.touch()
        p.chmod(0o644)
    before = mode(tmp_path)
    database = Database(f"sqlite:///{path}")
    try:
        await write_something(database)
    finally:
        await database.dispose()
    assert_private(sqlite_files(tmp_path))
    assert mode(tmp_path) == before


def test_in_memory_databases_touch_no_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    Database("sqlite:///:memory:")
    assert list(tmp_path.iterdir()) == []


def test_private_directory_leaves_an_existing_folder_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    private_directory(tmp_path)
    assert mode(tmp_path) == 0o755
    private_directory(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700


def test_create_private_file_once_of_many(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "one.key"
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def create(n: int) -> None:
        barrier.wait()
        results.append(create_private_file(path, f"{n}\n".encode() * 1000))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    content = path.read_text().splitlines()
    assert len(content) == 1000 and len(set(content)) == 1  # one writer's whole file
    assert mode(path) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["one.key"]
