"""An S3 server on loopback when none is named (`S3_ENDPOINT` unset): moto's, from the dev
extra, in memory, so its objects live as long as the stack."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from stack.backing import S3Server
from stack.processes import StackError, free_port, stop_process


class MotoServer:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / "moto.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def s3(self) -> S3Server:
        return S3Server(f"127.0.0.1:{self.port}", "testing", "testing")

    def start(self, timeout: float = 30) -> MotoServer:
        try:
            import moto.server  # noqa: F401 - only to fail early with a clear message
        except ImportError as exc:
            raise StackError(
                "S3_ENDPOINT is unset and moto is not installed (make .venv/.dev)"
            ) from exc
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise StackError(f"moto exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/moto-api/", timeout=2)
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise StackError(f"moto did not answer within {timeout}s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
