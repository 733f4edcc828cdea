"""Start-up an operator can rely on: a service started before its backing services waits for
them (retrying with backoff, saying at WARNING what it waits for) instead of exiting; each
service connects only to what it uses; `migrate` creates its database when it may.

The process tests start `python -m <service> serve` behind a `FaultProxy` that is cut (nothing
listens: connections are refused), then restore it: the service must get ready without a
restart."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from common.config import Settings
from common.ports import Ports
from common.security.keys import generate_keypair
from common.security.sealing import generate_key
from common.startup import until_up
from tests.support.faults import FaultProxy, fault_proxy
from tests.support.http import free_port
from tests.support.processes import ServiceProcess
from tests.support.services import RedisTarget, S3Target, _pg_admin, skip_or_fail
from tests.support.waiting import eventually_blocking

# ---------------------------------------------------------------- the retry itself


async def test_until_up_retries_with_backoff_saying_what_it_waits_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = [ConnectionRefusedError("refused"), OSError("still down")]

    async def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "up"

    with caplog.at_level(logging.WARNING, logger="common.startup"):
        assert await until_up("Redis at h:1", attempt, timeout=5, first_delay=0.01) == "up"
    waits = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(waits) == 2
    assert all("waiting for Redis at h:1" in r.getMessage() for r in waits)
    assert "ConnectionRefusedError: refused" in waits[0].getMessage()


async def test_until_up_gives_up_after_the_timeout() -> None:
    attempts = 0

    async def attempt() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionRefusedError("refused")

    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        await until_up("x", attempt, timeout=0.3, first_delay=0.05, max_delay=0.1)
    assert 0.3 <= time.monotonic() - started < 2
    assert attempts >= 3
    attempts = 0
    with pytest.raises(ConnectionRefusedError):
        await until_up("x", attempt, timeout=0)
    assert attempts == 1


# ---------------------------------------------------------------- only the declared ports


async def test_ports_build_and_start_only_what_the_service_declared() -> None:
    nothing = f"127.0.0.1:{free_port()}"
    settings = Settings(
        rabbitmq_url=f"amqp://guest:guest@{nothing}/",
        s3_endpoint=nothing,
        redis_url="",
        startup_timeout_seconds=0,
    )
    ports = Ports.from_settings(settings, {"kv"})
    await ports.start()  # neither the broker nor the S3 server is asked
    try:
        with pytest.raises(LookupError, match="bus"):
            _ = ports.bus
        with pytest.raises(LookupError, match="store"):
            _ = ports.store
        assert await ports.kv.ping()
    finally:
        await ports.close()


# ---------------------------------------------------------------- services as processes


def _refused() -> str:
    return f"127.0.0.1:{free_port()}"


def _wait_for_log(process: ServiceProcess, text: str, within: float = 30) -> None:
    def seen() -> bool:
        assert process.process is not None
        if process.process.poll() is not None:
            raise AssertionError(f"{process.service} exited:\n{process.logs()}")
        return text in process.logs()

    eventually_blocking(seen, within=within, failure=lambda _: f"no {text!r} in:\n{process.logs()}")


@pytest.fixture
def started() -> Iterator[list[ServiceProcess]]:
    processes: list[ServiceProcess] = []
    yield processes
    for process in processes:
        process.stop()


def test_gateway_connects_to_nothing_it_does_not_use(
    tmp_path: Path, redis_target: RedisTarget, started: list[ServiceProcess]
) -> None:
    """Today every process opened the bus and checked the bucket: a gateway whose broker and
    S3 server are away exited. It uses Redis only."""
    gateway = ServiceProcess(
        "gateway",
        {
            "REDIS_URL": redis_target.url,
            "REDIS_KEY_PREFIX": redis_target.prefix,
            "RABBITMQ_URL": f"amqp://guest:guest@{_refused()}/",
            "S3_ENDPOINT": _refused(),
            "DATABASE_URL": f"postgresql://postgres@{_refused()}/nothing",
            "DATA_DIR": str(tmp_path / "data"),
            "JWT_PRIVATE_KEY": "",
            "STARTUP_TIMEOUT_SECONDS": "0",
            "IDENTITY_URL": f"http://{_refused()}",
            "CATALOG_URL": f"http://{_refused()}",
        },
        tmp_path,
    )
    gateway.env["JWT_PUBLIC_KEY"] = generate_keypair().public_pem
    started.append(gateway.start())

    def alive() -> bool:
        assert gateway.process is not None
        if gateway.process.poll() is not None:
            raise AssertionError(f"gateway exited:\n{gateway.logs()}")
        try:
            return httpx.get(f"{gateway.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    eventually_blocking(alive, within=60, failure=lambda _: f"not up:\n{gateway.logs()}")
    assert "waiting for" not in gateway.logs()


def test_mailer_waits_for_redis_and_rabbitmq_that_are_not_up_yet(
    tmp_path: Path,
    redis_target: RedisTarget,
    rabbitmq_url: str,
    started: list[ServiceProcess],
) -> None:
    """Today the mailer exited in 0.1 s. Its S3 and database are away for good: it uses
    neither."""
    with (
        fault_proxy(redis_target.url, name="redis") as redis,
        fault_proxy(rabbitmq_url, name="rabbitmq") as rabbitmq,
    ):
        redis.cut()
        rabbitmq.cut()
        mailer = ServiceProcess(
            "mailer",
            {
                "REDIS_URL": redis.url(redis_target.url),
                "REDIS_KEY_PREFIX": redis_target.prefix,
                "RABBITMQ_URL": rabbitmq.url(rabbitmq_url),
                "S3_ENDPOINT": _refused(),
                "DATABASE_URL": f"postgresql://postgres@{_refused()}/nothing",
                "DATA_DIR": str(tmp_path / "data"),
                "MAIL_LINK_KEY": generate_key(),
                "ENVIRONMENT": "test",
            },
            tmp_path,
        )
        started.append(mailer.start())
        _wait_for_log(mailer, f"waiting for Redis at 127.0.0.1:{redis.port}")
        assert "WARNING" in mailer.logs()
        redis.restore()
        _wait_for_log(mailer, f"waiting for RabbitMQ at 127.0.0.1:{rabbitmq.port}")
        rabbitmq.restore()
        mailer.wait_ready(timeout=60)
        mailer.stop()  # before the proxies close


def test_catalog_waits_for_its_database_and_object_store(
    tmp_path: Path,
    postgres_databases,  # type: ignore[no-untyped-def]
    redis_target: RedisTarget,
    rabbitmq_url: str,
    s3_target: S3Target,
    started: list[ServiceProcess],
) -> None:
    """Today the catalog exited in 7 s."""
    database_url = asyncio.run(postgres_databases())
    env = {
        "REDIS_URL": redis_target.url,
        "REDIS_KEY_PREFIX": redis_target.prefix,
        "RABBITMQ_URL": rabbitmq_url,
        "S3_ACCESS_KEY": s3_target.access_key,
        "S3_SECRET_KEY": s3_target.secret_key,
        "S3_BUCKET": s3_target.bucket,
        "DATA_DIR": str(tmp_path / "data"),
        "ENVIRONMENT": "test",
    }
    ServiceProcess("catalog", {**env, "DATABASE_URL": database_url}, tmp_path).run("migrate")
    with (
        fault_proxy(database_url, name="postgres") as postgres,
        fault_proxy(s3_target.endpoint, name="s3") as s3,
    ):
        postgres.cut()
        s3.cut()
        catalog = ServiceProcess(
            "catalog",
            {**env, "DATABASE_URL": postgres.url(database_url), "S3_ENDPOINT": s3.url("x:1")},
            tmp_path,
        )
        started.append(catalog.start())
        _wait_for_log(catalog, f"waiting for the database at 127.0.0.1:{postgres.port}")
        postgres.restore()
        _wait_for_log(catalog, f"waiting for S3 at 127.0.0.1:{s3.port}", within=60)
        s3.restore()
        catalog.wait_ready(timeout=60)
        catalog.stop()  # before the proxies close


# ---------------------------------------------------------------- migrate


def _named(server_url: str, database: str, user: str | None = None) -> str:
    parts = urlsplit(server_url)
    netloc = parts.netloc if user is None else f"{user}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))


def _migrate(service: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    process = ServiceProcess(service, {"DATA_DIR": str(tmp_path / "data"), **env}, tmp_path)
    return subprocess.run(
        [sys.executable, "-m", service, "migrate"],
        env=process.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _exists(server_url: str, name: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def test_migrate_creates_its_database(tmp_path: Path, postgres_server_url: str) -> None:
    name = f"vf_test_{uuid.uuid4().hex[:12]}"
    try:
        result = _migrate("identity", {"DATABASE_URL": _named(postgres_server_url, name)}, tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        assert asyncio.run(_exists(postgres_server_url, name))
        again = _migrate("identity", {"DATABASE_URL": _named(postgres_server_url, name)}, tmp_path)
        assert again.returncode == 0, again.stderr[-3000:]
    finally:
        asyncio.run(
            _pg_admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


def test_migrate_says_so_when_it_may_not_create_the_database(
    tmp_path: Path, postgres_server_url: str
) -> None:
    role = f"vf_test_role_{uuid.uuid4().hex[:8]}"
    name = f"vf_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(postgres_server_url, f'CREATE ROLE "{role}" LOGIN NOCREATEDB'))
    try:
        env = {
            "DATABASE_URL": _named(postgres_server_url, name, user=role),
            "STARTUP_TIMEOUT_SECONDS": "0",
        }
        result = _migrate("catalog", env, tmp_path)
        if "password authentication failed" in result.stderr:
            skip_or_fail("the server asks this role for a password")
        assert "grant the role CREATEDB" in result.stderr, result.stderr[-3000:]
        assert not asyncio.run(_exists(postgres_server_url, name))
    finally:
        asyncio.run(_pg_admin(postgres_server_url, f'DROP ROLE IF EXISTS "{role}"'))


def test_migrate_waits_for_a_database_server_not_up_yet(
    tmp_path: Path, postgres_server_url: str
) -> None:
    name = f"vf_test_{uuid.uuid4().hex[:12]}"
    proxy = FaultProxy(*_host_port(postgres_server_url), name="postgres").start()
    proxy.cut()
    try:
        log = (tmp_path / "migrate.log").open("wb")
        process = ServiceProcess(
            "identity",
            {
                "DATA_DIR": str(tmp_path / "data"),
                "DATABASE_URL": proxy.url(_named(postgres_server_url, name)),
            },
            tmp_path,
        )
        migrate = subprocess.Popen(
            [sys.executable, "-m", "identity", "migrate"],
            env=process.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            eventually_blocking(
                lambda: b"waiting for the database" in (tmp_path / "migrate.log").read_bytes(),
                within=30,
            )
            assert migrate.poll() is None
            proxy.restore()
            assert migrate.wait(120) == 0, (tmp_path / "migrate.log").read_text()[-3000:]
        finally:
            if migrate.poll() is None:
                migrate.kill()
                migrate.wait()
        assert asyncio.run(_exists(postgres_server_url, name))
    finally:
        proxy.close()
        asyncio.run(
            _pg_admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port
