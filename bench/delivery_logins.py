"""One login loop of bench/delivery.py's login storm, as a process of its own: logs in with
the right password as fast as the server answers, from its own loopback source address, for
a while; then prints one JSON line of how the logins were answered.

    python bench/delivery_logins.py BASE_URL SOURCE_ADDRESS SECONDS
    (the account from BENCH_LOGIN_EMAIL and BENCH_LOGIN_PASSWORD)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter

import httpx


def loop(base: str, source: str, seconds: float, email: str, password: str) -> Counter[str]:
    answers: Counter[str] = Counter()
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=base, transport=transport, timeout=30) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            client.cookies.clear()  # each login a fresh browser
            try:
                status = client.post(
                    "/api/login/", json={"email": email, "password": password}
                ).status_code
                answers[str(status)] += 1
            except httpx.HTTPError as exc:
                answers[type(exc).__name__] += 1
    return answers


def main() -> None:
    base, source, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    email, password = os.environ["BENCH_LOGIN_EMAIL"], os.environ["BENCH_LOGIN_PASSWORD"]
    print(json.dumps(loop(base, source, seconds, email, password)), flush=True)


if __name__ == "__main__":
    main()
