"""The distributed wiring for integration tests: every service as its own process over the
real PostgreSQL (a database per service), RabbitMQ, Redis and S3 server, mail over SMTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.security.keys import generate_keypair
from common.security.sealing import generate_key
from tests.support.faults import StackEnv
from tests.support.integration import ADMIN_EMAIL, ADMIN_PASSWORD, Stack
from tests.support.processes import ServiceProcess
from tests.support.services import RedisTarget, S3Target, SmtpCapture


@pytest.fixture
def stack_env() -> StackEnv:
    """Overrides of a service's environment, from its name and environment; fault tests
    override this fixture to route services through a `tests.support.faults.FaultProxy`."""
    return lambda _service, _env: {}


@pytest.fixture
async def stack(
    stack_env: StackEnv,
    tmp_path: Path,
    postgres_databases,  # type: ignore[no-untyped-def]
    rabbitmq_url: str,
    redis_target: RedisTarget,
    s3_target: S3Target,
    smtp_capture: SmtpCapture,
) -> AsyncIterator[Stack]:
    keys = generate_keypair()
    link_key = generate_key()  # MAIL_LINK_KEY: identity and the mailer only
    shared = {
        "RABBITMQ_URL": rabbitmq_url,
        "REDIS_URL": redis_target.url,
        "REDIS_KEY_PREFIX": redis_target.prefix,
        "S3_ENDPOINT": s3_target.endpoint,
        "S3_ACCESS_KEY": s3_target.access_key,
        "S3_SECRET_KEY": s3_target.secret_key,
        "S3_BUCKET": s3_target.bucket,
        "JWT_PUBLIC_KEY": keys.public_pem,
        "DATA_DIR": str(tmp_path / "data"),
        "BUS_RETRY_DELAYS_MS": "200,500",
        "ENVIRONMENT": "test",
        "ADMIN_EMAIL": ADMIN_EMAIL,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "TRANSCODE_PRESET": "ultrafast",
    }
    identity = ServiceProcess(
        "identity",
        {
            **shared,
            "DATABASE_URL": await postgres_databases(),
            "JWT_PRIVATE_KEY": keys.private_pem,
            "MAIL_LINK_KEY": link_key,
        },
        tmp_path,
    )
    catalog = ServiceProcess(
        "catalog", {**shared, "DATABASE_URL": await postgres_databases()}, tmp_path
    )
    mailer = ServiceProcess(
        "mailer",
        {
            **shared,
            "SMTP_HOST": smtp_capture.host,
            "SMTP_PORT": str(smtp_capture.port),
            "MAIL_LINK_KEY": link_key,
        },
        tmp_path,
    )
    transcoder = ServiceProcess("transcoder", shared, tmp_path)
    for service in (identity, catalog):
        await asyncio.to_thread(service.run, "migrate")
    gateway = ServiceProcess(
        "gateway",
        {**shared, "IDENTITY_URL": identity.url, "CATALOG_URL": catalog.url},
        tmp_path,
    )
    processes = {
        "identity": identity,
        "catalog": catalog,
        "mailer": mailer,
        "transcoder": transcoder,
        "gateway": gateway,
    }
    for name, process in processes.items():
        process.env.update(stack_env(name, process.env))
    try:
        for p in processes.values():
            p.start()
        for p in processes.values():
            await asyncio.to_thread(p.wait_ready)
        yield Stack(processes, smtp_capture, s3_target)
    finally:
        for p in reversed(processes.values()):
            p.stop()
