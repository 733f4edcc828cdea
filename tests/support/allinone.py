"""`python -m allinone` (what `make dev` runs) as a subprocess on a free loopback port, with
its own DATA_DIR and the embedded adapters whatever the calling environment holds: for tests
that need a real HTTP server, such as a command-line client's, the API fuzzing and the
browser journeys. The one place the tests start it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from stack.processes import stop_process
from tests.support.http import free_port
from tests.support.waiting import eventually_blocking

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RunningAllInOne:
    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def logs(self, size: int = 5000) -> str:
        """The log's tail."""
        return self.log_path.read_text(errors="replace")[-size:]


@contextlib.contextmanager
def allinone_process(
    workdir: Path, *, port: int | None = None, within: float = 90, **env: str
) -> Iterator[RunningAllInOne]:
    """Started and ready (`/readyz`) on `port` (default: a free one). `env` overrides
    settings; the log is `workdir/allinone.log` (its tail is in the failure when it does not
    start). Leaving the block stops it with SIGTERM (SIGKILL after 20 s)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "PORT": str(port),
        "DATA_DIR": str(workdir / "data"),
        "PUBLIC_BASE_URL": url,
        "LOG_JSON": "false",
        "DATABASE_URL": "",
        "RABBITMQ_URL": "",
        "REDIS_URL": "",
        "S3_ENDPOINT": "",
        "SMTP_HOST": "",
        **env,
    }
    if "FORWARDED_ALLOW_IPS" not in env:  # unset, as on a fresh machine
        environment.pop("FORWARDED_ALLOW_IPS", None)
    log_path = workdir / "allinone.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "allinone"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = RunningAllInOne(url, log_path, process)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"python -m allinone exited early:\n{running.logs()}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            return False

        eventually_blocking(
            ready,
            within=within,
            failure=lambda _: f"not ready after {within}s:\n{running.logs()}",
        )
        yield running
    finally:
        stop_process(process, timeout=20)


@contextlib.contextmanager
def allinone(workdir: Path, **env: str) -> Iterator[str]:
    """`allinone_process`, for a test that only needs its base URL."""
    with allinone_process(workdir, **env) as running:
        yield running.url


LOGIN_LIMITS = {
    "RATE_LIMIT_LOGIN": "10",
    "RATE_LIMIT_WINDOW_SECONDS": "60",
    # the per-account limit on failed logins would bite first (its own tests are in
    # tests/identity): out of the way, the per-address limit is what the forwarded-address
    # tests (tests/allinone/test_forwarded_for.py) watch
    "RATE_LIMIT_LOGIN_FAILURES": "1000",
    "RATE_LIMIT_LOGIN_FAILURES_ACCOUNT": "1000",
}


def allinone_with_login_limit(workdir: Path, **env: str) -> contextlib.AbstractContextManager[str]:
    """`allinone` (`make dev` on a free loopback port) with the per-address login limit at
    10 a minute and the per-account limits on failed logins out of the way (`LOGIN_LIMITS`);
    `env` overrides them too."""
    return allinone(workdir, **{**LOGIN_LIMITS, **env})
