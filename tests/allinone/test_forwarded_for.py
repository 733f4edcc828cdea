"""`python -m allinone` believes X-Forwarded-For only from FORWARDED_ALLOW_IPS peers.

By default nobody is trusted, loopback included: a client that sends a new X-Forwarded-For (or
Forwarded) with each login attempt still hits the per-address limit after 10 attempts.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import httpx

from tests.support.allinone import allinone_with_login_limit
from tests.support.http import assert_json_error

LOGIN = {"email": "nobody@example.com", "password": "not-the-password"}


def login_statuses(url: str, headers: list[dict[str, str]]) -> list[httpx.Response]:
    with httpx.Client(base_url=url, timeout=10) as client:
        return [client.post("/api/login/", json=LOGIN, headers=h) for h in headers]


def assert_429(response: httpx.Response) -> None:
    assert_json_error(response, 429, detail=True)
    # a sliding window of 60 s: the refused request weighs on the next window too
    assert 1 <= int(response.headers["retry-after"]) <= 120


def test_forwarded_headers_from_loopback_are_not_believed_by_default(tmp_path: Path) -> None:
    with allinone_with_login_limit(tmp_path) as url:
        responses = login_statuses(
            url,
            [
                {"X-Forwarded-For": f"198.51.100.{i}", "Forwarded": f"for=198.51.100.{i}"}
                for i in range(11)
            ],
        )
        assert [r.status_code for r in responses[:10]].count(429) == 0
        assert_429(responses[10])

        # HTTP limits hold in this wiring too: an oversized header block is refused
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as sock:
            sock.settimeout(10)
            big = b"x" * (64 * 1024)
            with contextlib.suppress(OSError):
                sock.sendall(
                    b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Big: "
                    + big
                    + b"\r\n\r\n"
                )
            answer = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    answer += chunk
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_forwarded_for_from_a_listed_peer_is_the_client_address(tmp_path: Path) -> None:
    with allinone_with_login_limit(tmp_path, FORWARDED_ALLOW_IPS="127.0.0.1") as url:
        spread = login_statuses(url, [{"X-Forwarded-For": f"198.51.100.{i}"} for i in range(11)])
        assert 429 not in [r.status_code for r in spread]  # eleven clients, one attempt each
        same = login_statuses(url, [{"X-Forwarded-For": "203.0.113.7"}] * 11)
        assert 429 not in [r.status_code for r in same[:10]]
        assert_429(same[10])
