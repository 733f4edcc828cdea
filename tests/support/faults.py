"""Faults private to one test: a TCP proxy between the services under test and a backing server.

Other people (and CI) use the machine's PostgreSQL, RabbitMQ and Redis at the same time, so a
test may never stop them. Each fault test routes the services it starts through a `FaultProxy`
instead, and `cut()` makes the server vanish for them alone:

* every open connection is aborted (a TCP reset on both sides, as when a server process dies
  and the kernel answers for it), so clients see their sessions drop mid-conversation;
* the listening socket is closed, so new connections are refused at once (ECONNREFUSED), as
  for a host whose server is not running;
* `restore()` listens again on the same port, and the clients must come back by themselves.

What a real stop does besides, the proxy leaves to the real server, which is the same for both:
a durable broker keeps its queues and requeues what the lost connections had not acknowledged,
PostgreSQL rolls back every transaction that was open on a lost connection. The proxy runs in
a thread of its own (its own event loop), so it keeps forwarding while test code blocks.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.support.http import free_port
from tests.support.integration import Stack

T = TypeVar("T")
_CHUNK = 64 * 1024


class FaultProxy:
    """Forward 127.0.0.1:`port` to `target_host`:`target_port` until `cut()`."""

    def __init__(self, target_host: str, target_port: int, *, name: str = "") -> None:
        self.target = (target_host, target_port)
        self.name = name or f"{target_host}:{target_port}"
        self.port = free_port()
        self.accepted = 0  # connections accepted since start (all time)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # ------------------------------------------------------------------ control (any thread)

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """The server is down: drop every connection, refuse new ones."""
        self._call(self._cut())

    def restore(self) -> None:
        """The server is back, on the same address."""
        self._call(self._listen())

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self._cut())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()

    @property
    def is_cut(self) -> bool:
        return self._server is None

    @property
    def open_connections(self) -> int:
        return len(self._writers) // 2

    def url(self, url: str) -> str:
        """`url` (of the target) with its host and port replaced by the proxy's."""
        parts = urlsplit(url if "//" in url else f"//{url}")
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        if "//" not in url:
            return netloc
        return urlunsplit(parts._replace(netloc=netloc))

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # ------------------------------------------------------------------ the proxy (its loop)

    async def _listen(self) -> None:
        if self._server is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            self._server = await asyncio.start_server(self._serve, sock=sock)

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # the listening socket: new connections are refused
        for writer in list(self._writers):
            _reset(writer)
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:
            _reset(writer)
            return
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        pair = {writer, up_writer}
        if self._server is None:  # cut while connecting upstream
            for w in pair:
                _reset(w)
            return
        self._writers |= pair
        pipes = {
            asyncio.ensure_future(_pipe(reader, up_writer)),
            asyncio.ensure_future(_pipe(up_reader, writer)),
        }
        try:
            # one side closing or failing ends the whole connection (no half-open leftovers)
            _done, pending = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        finally:
            for w in pair:
                self._writers.discard(w)
                w.close()  # graceful (FIN after what is buffered); a no-op after a cut


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, RuntimeError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort the connection (RST, no FIN): what a peer sees when the server dies."""
    transport = writer.transport
    if transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@contextlib.contextmanager
def fault_proxy(url_or_hostport: str, *, name: str = "") -> Iterator[FaultProxy]:
    """A started proxy in front of the server of `url_or_hostport`; closed afterwards."""
    parts = urlsplit(url_or_hostport if "//" in url_or_hostport else f"//{url_or_hostport}")
    assert parts.hostname and parts.port, f"no host:port in {url_or_hostport!r}"
    proxy = FaultProxy(parts.hostname, parts.port, name=name).start()
    try:
        yield proxy
    finally:
        proxy.close()


# ---------------------------------------------------------------- the platform, as a client sees it

StackEnv = Callable[[str, dict[str, str]], dict[str, str]]
"""A service's environment overrides, from its name and environment (the `stack_env` fixture)."""

PASSWORD = "fault-tolerant passphrase"


def browser(gateway_url: str, origin: str) -> httpx.AsyncClient:
    """A client like the browser front end: the contract's Origin, a short timeout, so
    that a hang fails the test instead of waiting for it."""
    return httpx.AsyncClient(
        base_url=gateway_url,
        headers={"Origin": origin},
        timeout=10,
    )


async def register(client: httpx.AsyncClient, email: str) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "confirmed_password": PASSWORD}
    return await client.post("/api/register/", json=body)


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    """The answer and how long it took, in seconds."""
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def quiet(probe: Callable[[], T], *, for_seconds: float = 2.0, within: float = 30) -> T:
    """Wait until `probe()` has not changed for `for_seconds` (e.g. no more mail arrives):
    how a test shows that nothing more comes (no duplicate) without knowing when to look."""
    deadline = time.monotonic() + within
    last, since = probe(), time.monotonic()
    while time.monotonic() - since < for_seconds:
        assert time.monotonic() < deadline, f"still changing after {within}s: {last!r}"
        await asyncio.sleep(0.1)
        if (value := probe()) != last:
            last, since = value, time.monotonic()
    return last


def mail_counts(stack: Stack) -> collections.Counter[str]:
    """How many mails each address got at the SMTP server."""
    return collections.Counter(r for m in stack.smtp.messages for r in m.recipients)
