"""One service as its own process: `python -m <service> serve` on a loopback port."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx


class StackError(RuntimeError):
    """The stack could not be brought up (a process exited, or never became ready)."""


_HANDED_OUT: set[int] = set()
_PORTS = range(20000, 32768)
"""Below Linux's ephemeral range (32768-60999): a port picked there can be taken, between the
pick and the service's bind, by any outgoing connection's source port; one below it cannot."""


def free_port() -> int:
    """A loopback port nothing listens on, never the same twice in this process."""
    for _ in range(200):
        port = random.choice(_PORTS)  # noqa: S311 (spreads picks, not a secret)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise StackError("no free loopback port below the ephemeral range")


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ServiceProcess:
    """`module` run as `name` (a second transcoder is `transcoder-2`), logging to
    `<log_dir>/<name>.log`. Its own process group: a Ctrl-C in the terminal reaches the stack
    alone, which then stops every service in order."""

    def __init__(
        self,
        module: str,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        name: str | None = None,
        port: int | None = None,
    ) -> None:
        self.service = module
        self.name = name or module
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "LOG_JSON": "false", **env}
        self.log_path = log_dir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, timeout: float = 120) -> None:
        """A one-shot command such as `migrate`."""
        result = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", self.service, *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"{self.name} {' '.join(args)} failed:\n{result.stderr.decode()[-3000:]}"
            )

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
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
                process_group=0,
            )
        return self

    def is_ready(self) -> bool:
        """`/readyz` answers 200; raises `StackError` if the process has exited."""
        if self.process is None or self.process.poll() is not None:
            raise StackError(f"{self.name} exited early:\n{self.logs()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(
        self, timeout: float = 60, *, cancelled: Callable[[], bool] = lambda: False
    ) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if cancelled():
                raise StackError("cancelled")
            if time.monotonic() > deadline:
                raise StackError(f"{self.name} not ready after {timeout}s:\n{self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)
