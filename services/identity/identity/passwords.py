"""Password hashing (argon2id) and the weak-password rule of the contract.

A hash takes tens of milliseconds of CPU; on the event loop it would freeze every request of
the process (segment delivery included). `HashingPool` runs hashes on a few threads instead
(argon2-cffi releases the GIL while it hashes), never more at once than there are workers, and
refuses (429) what would queue beyond a short backlog rather than letting a login storm pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib.resources import files
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.config import Settings
from common.refusals import RateLimited

MIN_LENGTH = 8
HASH_THREAD_NICENESS = 10
"""How much lower than the event loop's the hashing threads' CPU priority is."""

T = TypeVar("T")

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# verified against when the email is unknown, so both paths cost the same time
_DUMMY_HASH = _hasher.hash("videoflix-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


class HashingBusy(RateLimited):
    """More password hashes asked for than the pool runs plus its backlog: try again soon."""

    retry_after_seconds = 1


class HashingPool:
    """At most `workers` hashes at once on threads of their own, at most `backlog` more
    waiting; beyond that `HashingBusy`. A slot is held until its hash has really finished
    (a cancelled caller does not free it while the thread still hashes)."""

    def __init__(self, workers: int, backlog: int) -> None:
        self.workers, self.backlog = workers, backlog
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="argon2", initializer=_yield_to_requests
        )
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Hashes running or waiting."""
        return self._admitted

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await self._run(verify_password, password_hash, password)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._admitted >= self.workers + self.backlog:
                raise HashingBusy
            self._admitted += 1
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _: self._release())
        return await asyncio.wrap_future(future)

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1


def _yield_to_requests() -> None:
    """Lower this hashing thread's CPU priority (Linux: niceness is per thread, and argon2's
    own lane threads, up to `parallelism` of them per hash, inherit it): a login storm then
    takes the CPU the event loop leaves, rather than an equal share of it."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)


@cache
def _pool(workers: int, backlog: int) -> HashingPool:
    return HashingPool(workers, backlog)


def hashing_pool(settings: Settings) -> HashingPool:
    """The process's pool for these settings (one per configuration, shared by every
    service instance: the cores are the process's, not a service's)."""
    workers = settings.password_hash_concurrency or os.cpu_count() or 1
    backlog = settings.password_hash_queue
    return _pool(workers, 4 * workers if backlog is None else backlog)


@cache
def _breached() -> frozenset[str]:
    text = files("identity.data").joinpath("common_passwords.txt").read_text()
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line.lower() for line in lines if line and not line.startswith("#"))


def password_problems(password: str, *, email: str = "") -> list[str]:
    """Why a password is too weak, as messages for the client; empty when it is fine."""
    if len(password) < MIN_LENGTH:
        return [f"This password is too short. It must contain at least {MIN_LENGTH} characters."]
    lowered = password.lower()
    if lowered in _breached():
        return ["This password is too common."]
    if email and lowered == email.lower():
        return ["The password is too similar to the email address."]
    return []
