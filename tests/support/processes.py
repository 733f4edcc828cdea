"""Run services as separate processes (`python -m <service> serve`), the distributed wiring."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.http import free_port
from tests.support.waiting import eventually_blocking


class ServiceProcess:
    def __init__(self, service: str, env: dict[str, str], log_dir: Path) -> None:
        self.service = service
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "LOG_JSON": "false", **env}
        self.log_path = log_dir / f"{service}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, timeout: float = 120) -> None:
        """A one-shot command such as `migrate`."""
        result = subprocess.run(
            [sys.executable, "-m", self.service, *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()[-3000:]

    def start(self) -> ServiceProcess:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                self.service,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.service} exited early:\n{self.logs()}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually_blocking(
            ready,
            within=timeout,
            failure=lambda _: f"{self.service} not ready after {timeout}s:\n{self.logs()}",
        )

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
