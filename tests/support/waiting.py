"""Waiting for what happens in the background: the one poll-until helper of the tests.

Prefer an explicit signal where there is one (an `asyncio.Event`, `InMemoryBus.drain()`); poll
only what cannot tell (a file appearing, a process getting ready, a mail arriving).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

Failure = str | Callable[[T], str]


def _failure(failure: Failure[T], last: T, within: float) -> AssertionError:
    if callable(failure):
        return AssertionError(failure(last))
    return AssertionError(f"{failure} (not within {within}s; last seen: {last!r})")


async def eventually(
    probe: Callable[[], T | Awaitable[T]],
    until: Callable[[T], object] = bool,
    *,
    within: float = 5.0,
    interval: float = 0.01,
    failure: Failure[T] = "condition not reached",
) -> T:
    """Call `probe` (sync or async) every `interval` seconds until `until(value)` holds, and
    return that value. After `within` seconds fail with `failure`: a text, or a function of the
    last value. An exception from `probe` (a check of what must never happen on the way) fails
    at once."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if until(value):  # type: ignore[arg-type]
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise _failure(failure, value, within)  # type: ignore[arg-type]
        await asyncio.sleep(interval)


def eventually_blocking(
    probe: Callable[[], T],
    until: Callable[[T], object] = bool,
    *,
    within: float = 5.0,
    interval: float = 0.2,
    failure: Failure[T] = "condition not reached",
) -> T:
    """`eventually` for code outside an event loop (process start-up, a worker thread)."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise _failure(failure, value, within)
        time.sleep(interval)
