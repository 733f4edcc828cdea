"""`python -m allinone` (what `make dev` runs) as a subprocess on a free loopback port, with
its own DATA_DIR and the embedded adapters whatever the calling environment holds: for tests
that need a real HTTP server, such as a command-line client's."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.http import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def allinone(workdir: Path, **env: str) -> Iterator[str]:
    """Started and healthy; yields its base URL. `env` overrides settings; the log is
    `workdir/allinone.log` (its tail is in the failure when it does not start)."""
    port = free_port()
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
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
