"""Fixtures for the real backing services: PostgreSQL, RabbitMQ, Redis, S3 and SMTP.

Where each service comes from, in order:
1. an address in the environment (`TEST_POSTGRES_URL`, `TEST_RABBITMQ_URL`, `TEST_REDIS_URL`,
   `TEST_S3_ENDPOINT`): what `.ci/run` sets, pointing at the machine's own servers;
2. a testcontainers container, where a Docker engine answers;
3. otherwise the test is skipped, unless `VIDEOFLIX_REQUIRE_SERVICES=1`, when it fails.

Every test gets its own database, vhost, key prefix or bucket, removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.http import free_port

REQUIRED = os.environ.get("VIDEOFLIX_REQUIRE_SERVICES") == "1"

# The images testcontainers starts: the very references deploy/ runs (tests/deploy/test_images.py
# holds them to one exact release and digest each, everywhere).
POSTGRES_IMAGE = (
    "postgres:16.15-trixie@sha256:a3b7f434b2dc57ce85a67e171163eb8ab1a1ebcb39d27484661f26b1dfbe30d6"
)
RABBITMQ_IMAGE = (
    "rabbitmq:4.3.6-management"
    "@sha256:c6c748ed27d7fd3733187c73cd022feae76d6a7c2ffa4bf1ab3ef75edfdb9797"
)
REDIS_IMAGE = (
    "redis:7.4.11-bookworm@sha256:c6eabf748fc7a61dbb5a705c78bcf3d6377b1127a97d0ce965c11c44ba46896f"
)
MINIO_IMAGE = (
    "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
    "@sha256:14cea493d9a34af32f524e538b8346cf79f3321eff8e708c1e2960462bd8936e"
)


def skip_or_fail(message: str) -> NoReturn:
    """Skip on a developer's machine; fail in CI (VIDEOFLIX_REQUIRE_SERVICES=1)."""
    if REQUIRED:
        pytest.fail(f"VIDEOFLIX_REQUIRE_SERVICES=1: {message}", pytrace=False)
    pytest.skip(message)


def unavailable(what: str) -> NoReturn:
    skip_or_fail(f"{what} is not available (set its TEST_* variable or run a Docker engine)")


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def _container(factory):  # type: ignore[no-untyped-def]
    container = factory()
    container.start()
    try:
        yield container
    finally:
        container.stop()


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A URL of a PostgreSQL server's maintenance database (`postgresql://...`)."""
    if url := os.environ.get("TEST_POSTGRES_URL"):
        yield url
        return
    if _docker_available():
        from testcontainers.postgres import PostgresContainer

        with _container(lambda: PostgresContainer(POSTGRES_IMAGE, driver=None)) as pg:
            yield pg.get_connection_url()
        return
    unavailable("PostgreSQL")


async def _pg_admin(server_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def postgres_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = f"vf_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(postgres_server_url, f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_server_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await _pg_admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def postgres_databases(postgres_server_url: str) -> AsyncIterator[object]:
    """A factory of fresh databases (one per service in distributed tests); all dropped."""
    made: list[str] = []
    parts = urlsplit(postgres_server_url)

    async def make() -> str:
        name = f"vf_test_{uuid.uuid4().hex[:12]}"
        await _pg_admin(postgres_server_url, f'CREATE DATABASE "{name}"')
        made.append(name)
        return urlunsplit(parts._replace(path=f"/{name}"))

    yield make
    for name in made:
        await _pg_admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- RabbitMQ


@pytest.fixture(scope="session")
def rabbitmq_server_url() -> Iterator[str]:
    if url := os.environ.get("TEST_RABBITMQ_URL"):
        yield url
        return
    if _docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        with _container(lambda: RabbitMqContainer(RABBITMQ_IMAGE)) as rmq:
            params = rmq.get_connection_params()
            yield f"amqp://guest:guest@{params.host}:{params.port}/"
        return
    unavailable("RabbitMQ")


@pytest.fixture
def rabbitmq_url(rabbitmq_server_url: str) -> Iterator[str]:
    """A fresh vhost for one test where `rabbitmqctl` can make one; else the server's own."""
    ctl = shutil.which("rabbitmqctl")
    parts = urlsplit(rabbitmq_server_url)
    local = parts.hostname in {"127.0.0.1", "localhost"}
    if not (ctl and local and os.environ.get("TEST_RABBITMQ_URL")):
        yield rabbitmq_server_url
        return
    vhost = f"vf_test_{uuid.uuid4().hex[:12]}"
    user = parts.username or "guest"
    run = lambda *args: subprocess.run([ctl, *args], check=True, capture_output=True, timeout=60)  # noqa: E731
    run("add_vhost", vhost)
    run("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    try:
        yield urlunsplit(parts._replace(path=f"/{vhost}"))
    finally:
        with contextlib.suppress(Exception):
            run("delete_vhost", vhost)


# ---------------------------------------------------------------- Redis


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    if _docker_available():
        from testcontainers.redis import RedisContainer

        with _container(lambda: RedisContainer(REDIS_IMAGE)) as r:
            yield f"redis://{r.get_container_host_ip()}:{r.get_exposed_port(6379)}/0"
        return
    unavailable("Redis")


@dataclass(frozen=True)
class RedisTarget:
    url: str
    prefix: str


@pytest.fixture
async def redis_target(redis_server_url: str) -> AsyncIterator[RedisTarget]:
    """The server plus a key prefix of this test's own; its keys are deleted afterwards."""
    from stack.backing import remove_redis_keys

    prefix = f"vftest:{uuid.uuid4().hex[:12]}:"
    yield RedisTarget(redis_server_url, prefix)
    await remove_redis_keys(redis_server_url, prefix)


# ---------------------------------------------------------------- S3


@dataclass(frozen=True)
class S3Target:
    endpoint: str  # host:port, as the minio SDK takes it
    access_key: str
    secret_key: str
    bucket: str


@pytest.fixture(scope="session")
def s3_server() -> Iterator[tuple[str, str, str]]:
    """(endpoint, access key, secret key) of an S3 server: `TEST_S3_ENDPOINT` (moto's standalone
    server in CI), a MinIO container, else skip/fail."""
    if endpoint := os.environ.get("TEST_S3_ENDPOINT"):
        yield (
            endpoint.removeprefix("http://"),
            os.environ.get("TEST_S3_ACCESS_KEY", "testing"),
            os.environ.get("TEST_S3_SECRET_KEY", "testing"),
        )
        return
    if _docker_available():
        from testcontainers.minio import MinioContainer

        with _container(lambda: MinioContainer(image=MINIO_IMAGE)) as m:
            cfg = m.get_config()
            yield cfg["endpoint"], cfg["access_key"], cfg["secret_key"]
        return
    unavailable("S3 server")


@pytest.fixture
def s3_target(s3_server: tuple[str, str, str]) -> Iterator[S3Target]:
    """A bucket name of this test's own; the bucket and all in it are removed afterwards."""
    from minio import Minio

    endpoint, access, secret = s3_server
    bucket = f"vf-test-{uuid.uuid4().hex[:12]}"
    yield S3Target(endpoint, access, secret, bucket)
    client = Minio(endpoint, access_key=access, secret_key=secret, secure=False)
    with contextlib.suppress(Exception):
        if client.bucket_exists(bucket):
            for obj in client.list_objects(bucket, recursive=True):
                client.remove_object(bucket, obj.object_name)
            client.remove_bucket(bucket)


# ---------------------------------------------------------------- SMTP


@dataclass
class CapturedMail:
    sender: str
    recipients: list[str]
    data: bytes


class SmtpCapture:
    """An aiosmtpd server on a free loopback port that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[CapturedMail] = []
        capture = self

        class _Handler:
            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                capture.messages.append(
                    CapturedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
                )
                return "250 Message accepted for delivery"

        self.controller = Controller(_Handler(), hostname="127.0.0.1", port=free_port())

    def start(self) -> SmtpCapture:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self.controller.port


@pytest.fixture
def smtp_capture() -> Iterator[SmtpCapture]:
    capture = SmtpCapture().start()
    try:
        yield capture
    finally:
        capture.stop()
