"""Running `videoflix-admin` in the test's process (typer's CliRunner), and a TCP proxy that
counts what a client sends and can cut the connection after a number of bytes."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from typer.testing import CliRunner

from admincli.app import app
from tests.support.http import free_port


@dataclass
class Run:
    exit_code: int
    output: str  # stdout and stderr as a terminal would show them


def cli(url: str, *args: str, input: str | None = None) -> Run:
    """`videoflix-admin --url URL ARGS...`; the output is wide enough for whole table rows."""
    result = CliRunner().invoke(
        app, ["--url", url, *args], input=input, env={"COLUMNS": "250", "NO_COLOR": "1"}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # the CLI must never end in a traceback
    assert "Traceback" not in result.output, result.output
    return Run(result.exit_code, result.output)


class CuttingProxy:
    """Forwards 127.0.0.1:`port` to `target`, counting the bytes clients send
    (`sent`). Once `budget` bytes have gone upstream, every connection is reset and new
    ones are refused until `restore()`: a network that drops in the middle of an upload."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.sent = 0
        self.budget: int | None = None
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CuttingProxy:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR on POSIX
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def restore(self) -> None:
        with self._lock:
            self.budget = None
        if self._listener is None:
            self.start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (Linux)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):  # RST, as when the peer vanishes
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)  # else a thread blocked in recv() keeps it open
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.target)
                with self._lock:
                    self._sockets |= {client, upstream}
                threading.Thread(
                    target=self._pipe, args=(client, upstream, True), daemon=True
                ).start()
                threading.Thread(
                    target=self._pipe, args=(upstream, client, False), daemon=True
                ).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if outbound:
                    with self._lock:
                        allowed = len(data) if self.budget is None else self.budget - self.sent
                        data = data[: max(0, allowed)]
                        self.sent += len(data)
                        spent = self.budget is not None and self.sent >= self.budget
                    sink.sendall(data)
                    if spent:
                        self.cut()
                        return
                else:
                    sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def cutting_proxy(target_url: str) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(int(target_url.rsplit(":", 1)[1])).start()
    try:
        yield proxy
    finally:
        proxy.cut()
