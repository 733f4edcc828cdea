"""How every service and the all-in-one run uvicorn: whose forwarding headers are believed,
caps on request heads that uvicorn's httptools protocol does not have, and how long a
shutdown waits for the requests in flight.

- The client address is the socket peer unless the peer is listed in FORWARDED_ALLOW_IPS
  (IPs, CIDRs or `*`); only then does its `X-Forwarded-For` name the client. uvicorn's own
  default would trust 127.0.0.1, so any local proxy, or a client on the same machine, could
  pick a new address per request and escape the per-address rate limits. `Forwarded`
  (RFC 7239) is never read.
- A request head (request line and header fields) over HTTP_MAX_HEADER_BYTES or with more than
  HTTP_MAX_HEADERS fields gets 431 and a closed connection, before the rest is buffered.
- A connection must deliver a complete head within HTTP_HEADER_TIMEOUT_SECONDS of opening or of
  its request's first byte (slowloris); otherwise it is closed without an answer.
- On shutdown the requests in flight get SHUTDOWN_GRACE_SECONDS to finish, then are cancelled.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from common.config import Settings


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int
    max_fields: int
    timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> HeadLimits:
        return cls(
            max_bytes=settings.http_max_header_bytes,
            max_fields=settings.http_max_headers,
            timeout_seconds=settings.http_header_timeout_seconds,
        )


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config`, besides app, host and port."""
    trusted = settings.forwarded_allow_ips.strip()
    return {
        "log_config": None,
        # always explicit: left unset, uvicorn trusts FORWARDED_ALLOW_IPS or else 127.0.0.1
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted,
        "http": limited_protocol(HeadLimits.from_settings(settings)),
        # left unset, uvicorn waits for every response to end: an event stream never does
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }


def limited_protocol(limits: HeadLimits) -> type[HttpToolsProtocol]:
    return type("LimitedHttpProtocol", (LimitedHttpProtocol,), {"limits": limits})


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a head over the limits."""


_REFUSAL = json.dumps({"detail": "Request header fields too large."}).encode()


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the caps of `HeadLimits` (one instance a connection).

    httptools buffers a header field until it is complete, so the size is also checked on the
    raw bytes received while a head is incomplete, after each read."""

    limits: ClassVar[HeadLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # the next bytes belong to a request head
        self._head_received = 0  # raw bytes read while the head is incomplete
        self._head_size = 0  # request target and header fields parsed so far
        self._refused = False

    # the clock
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.limits.timeout_seconds, self._head_timed_out
            )

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined head stalled: close after this answer
        elif not self.transport.is_closing():
            self.transport.close()

    # the size
    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_received += len(data)
        super().data_received(data)
        if (
            self._in_head
            and self._head_received > self.limits.max_bytes
            and not self.transport.is_closing()
        ):
            self._refused = True
            self.send_400_response("")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_size = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)
        if len(self.headers) > self.limits.max_fields:
            self._refused = True
            raise _HeadRefused

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_received = 0
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    def _count(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.limits.max_bytes:
            self._refused = True
            raise _HeadRefused

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a head the parser rejected; 431 when the rejection is ours."""
        if not self._refused:
            super().send_400_response(msg)
            return
        if self.cycle is None or self.cycle.response_complete:  # never inside another answer
            head = [STATUS_LINE[431]]
            for name, value in self.server_state.default_headers:
                head.extend([name, b": ", value, b"\r\n"])
            head.append(
                b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                % len(_REFUSAL)
            )
            self.transport.write(b"".join(head) + _REFUSAL)
        self.transport.close()
