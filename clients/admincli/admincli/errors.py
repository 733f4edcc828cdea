"""What can go wrong, as the user is told it: one line each, the API's own words for an HTTP
error (CONTRACT.md's `{"detail": ...}` or `{"field": [...]}`), never a traceback."""

from __future__ import annotations

import httpx


class CliError(Exception):
    """A failure told to the user in one line; the command exits with `exit_code`."""

    exit_code = 1


class ApiError(CliError):
    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.response = response
        super().__init__(f"{error_message(response)} (HTTP {self.status})")


class NotLoggedIn(CliError):
    pass


class NetworkError(CliError):
    """The server could not be reached, or the connection broke: worth trying again."""


def error_message(response: httpx.Response) -> str:
    """The API's words: `{"detail": ...}` or `{"field": ["...", ...]}` (CONTRACT.md)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body:
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
        parts = []
        for field, messages in body.items():
            listed = messages if isinstance(messages, list) else [messages]
            parts.append(f"{field}: {' '.join(str(m) for m in listed)}")
        return "; ".join(parts)
    return response.reason_phrase or f"HTTP {response.status_code}"
