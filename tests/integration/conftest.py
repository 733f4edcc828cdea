"""The distributed wiring for integration tests: every service as its own process over the
real PostgreSQL (a database per service), RabbitMQ, Redis and S3 server, mail over SMTP.

The stack is started by the `stack` package, the very code `make stack` runs; only the servers
(and the vhost, key prefix and bucket, from tests/support/services.py) come from the tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stack.backing import Names, S3Server, Servers, provision, release
from stack.edge import EdgeOptions
from stack.wiring import Platform
from tests.support.faults import StackEnv
from tests.support.integration import ADMIN_EMAIL, ADMIN_PASSWORD, Stack
from tests.support.services import RedisTarget, S3Target, SmtpCapture


@pytest.fixture
def stack_env() -> StackEnv:
    """Overrides of a service's environment, from its name and environment; fault tests
    override this fixture to route services through a `tests.support.faults.FaultProxy`."""
    return lambda _service, _env: {}


@pytest.fixture
def stack_edge() -> EdgeOptions | None:
    """The edge (nginx) in front of the gateways; tests/integration/test_edge.py overrides
    this fixture to have one, the other tests talk to a single gateway."""
    return None


@pytest.fixture
async def stack(
    stack_env: StackEnv,
    stack_edge: EdgeOptions | None,
    tmp_path: Path,
    postgres_server_url: str,
    rabbitmq_url: str,
    redis_target: RedisTarget,
    s3_target: S3Target,
    smtp_capture: SmtpCapture,
) -> AsyncIterator[Stack]:
    servers = Servers(
        postgres_url=postgres_server_url,
        rabbitmq_url=rabbitmq_url,  # a vhost of the test's own where one can be made
        redis_url=redis_target.url,
        s3=S3Server(s3_target.endpoint, s3_target.access_key, s3_target.secret_key),
    )
    names = Names.throwaway("vf_test", bucket=s3_target.bucket, redis_prefix=redis_target.prefix)
    resources = await provision(servers, names)
    platform = Platform(
        resources,
        log_dir=tmp_path,
        data_dir=tmp_path / "data",
        env={
            "BUS_RETRY_DELAYS_MS": "200,500",
            "ENVIRONMENT": "test",
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "TRANSCODE_PRESET": "ultrafast",
        },
        smtp=(smtp_capture.host, smtp_capture.port),
        # one: the fault tests kill "the" transcoder mid-job and watch its FFmpeg; `make
        # stack` (and tests/integration/test_stack.py) run two
        transcoders=1,
        overrides=stack_env,
        edge=stack_edge,
    )
    try:
        await asyncio.to_thread(platform.up, 60)
        yield Stack(platform.processes, smtp_capture, s3_target)
    finally:
        await asyncio.to_thread(platform.down)
        await release(resources)
