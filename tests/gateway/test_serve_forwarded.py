"""`python -m gateway serve` believes X-Forwarded-For only from FORWARDED_ALLOW_IPS peers, and
caps request heads; a real process on a loopback port (the upstreams are down: the per-address
limit answers before the proxy does)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx

from common.security.keys import generate_keypair
from tests.support.http import assert_json_error, free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import eventually_blocking

LOGIN = {"email": "nobody@example.com", "password": "not-the-password"}


@contextlib.contextmanager
def gateway(tmp_path: Path, **env: str) -> Iterator[ServiceProcess]:
    closed = f"http://127.0.0.1:{free_port()}"
    process = ServiceProcess(
        "gateway",
        {
            "JWT_PUBLIC_KEY": generate_keypair().public_pem,
            "IDENTITY_URL": closed,
            "CATALOG_URL": closed,
            "REDIS_URL": "",
            "RABBITMQ_URL": "",
            "S3_ENDPOINT": "",
            "DATA_DIR": str(tmp_path),
            "RATE_LIMIT_LOGIN": "10",
            "RATE_LIMIT_WINDOW_SECONDS": "60",
            "FORWARDED_ALLOW_IPS": "",
            **env,
        },
        tmp_path,
    )
    if "FORWARDED_ALLOW_IPS" not in env:  # unset, as on a fresh machine
        process.env.pop("FORWARDED_ALLOW_IPS")
    process.start()
    try:

        def healthy() -> bool:  # not ready: its upstreams are down
            assert process.process is not None and process.process.poll() is None, process.logs()
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{process.url}/healthz", timeout=2).status_code == 200
            return False

        eventually_blocking(healthy, within=60, failure=lambda _: process.logs())
        yield process
    finally:
        process.stop()


def logins(url: str, headers: list[dict[str, str]]) -> list[int]:
    with httpx.Client(base_url=url, timeout=10) as client:
        return [client.post("/api/login/", json=LOGIN, headers=h).status_code for h in headers]


def test_forwarded_headers_are_not_believed_by_default(tmp_path: Path) -> None:
    with gateway(tmp_path) as process:
        statuses = logins(
            process.url,
            [
                {"X-Forwarded-For": f"198.51.100.{i}", "Forwarded": f"for=198.51.100.{i}"}
                for i in range(10)
            ],
        )
        assert 429 not in statuses
        with httpx.Client(base_url=process.url) as client:
            response = client.post(
                "/api/login/", json=LOGIN, headers={"X-Forwarded-For": "198.51.100.99"}
            )
        assert_json_error(response, 429, detail=True)
        # a sliding window of 60 s: the refused request weighs on the next window too
        assert 1 <= int(response.headers["retry-after"]) <= 120

        with socket.create_connection(("127.0.0.1", process.port)) as sock:
            sock.settimeout(10)
            head = b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
            with contextlib.suppress(OSError):
                sock.sendall(head + b"X-Big: " + b"x" * 65536 + b"\r\n\r\n")
            answer = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    answer += chunk
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_forwarded_for_from_a_listed_network_is_the_client_address(tmp_path: Path) -> None:
    with gateway(tmp_path, FORWARDED_ALLOW_IPS="10.0.0.0/8, 127.0.0.0/8") as process:
        spread = logins(process.url, [{"X-Forwarded-For": f"198.51.100.{i}"} for i in range(11)])
        assert 429 not in spread
        same = logins(process.url, [{"X-Forwarded-For": "203.0.113.7"}] * 11)
        assert 429 not in same[:10] and same[10] == 429
