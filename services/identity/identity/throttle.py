"""Counters in the key-value store against guessing passwords and against mail bombing.

Failed logins are counted per account and client address (tight) and per account over every
address (loose). An address that has logged in to the account before is exempt from the
account-wide ceiling, so strangers who spread their guesses over many addresses lock out the
account for new addresses only, not its owner at home. Both are fixed windows: the lock ends
with the window. Unknown addresses are counted like accounts, so the limits tell nothing.

Mails: at most so many activation (and, apart, reset) mails to one recipient per window.

Keys name accounts by a digest of the address, never the address itself. An unavailable store
fails open (logged): it must not lock everybody out.
"""

from __future__ import annotations

import hashlib
import logging
import math

from common.config import Settings
from common.kv import KeyValueStore
from common.metrics import login_attempt
from identity.refusals import TooManyAttempts

log = logging.getLogger(__name__)

KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600


def account_key(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


class LoginThrottle:
    def __init__(
        self, kv: KeyValueStore, *, per_address: int, per_account: int, window_seconds: int
    ) -> None:
        self.kv = kv
        self.per_address = per_address
        self.per_account = per_account
        self.window = window_seconds

    @classmethod
    def from_settings(cls, kv: KeyValueStore, settings: Settings) -> LoginThrottle:
        return cls(
            kv,
            per_address=settings.rate_limit_login_failures,
            per_account=settings.rate_limit_login_failures_account,
            window_seconds=settings.rate_limit_login_failures_window_seconds,
        )

    @staticmethod
    def _keys(email: str, client: str) -> tuple[str, str, str]:
        account = account_key(email)
        return (
            f"login:failures:{account}:{client}",
            f"login:failures:{account}",
            f"login:known:{account}:{client}",
        )

    async def check(self, email: str, client: str) -> None:
        """Refuse (before the password is even looked at) while a limit is reached."""
        pair, account, known = self._keys(email, client)
        try:
            if await self._reached(pair, self.per_address):
                raise TooManyAttempts(await self._seconds_left(pair))
            if await self._reached(account, self.per_account) and await self.kv.get(known) is None:
                raise TooManyAttempts(await self._seconds_left(account))
        except TooManyAttempts:
            login_attempt("throttled")
            raise
        except Exception as exc:
            log.warning("login throttle unavailable: %s", exc)

    async def failed(self, email: str, client: str) -> None:
        pair, account, _ = self._keys(email, client)
        try:
            await self.kv.incr(pair, ttl_seconds=self.window)
            await self.kv.incr(account, ttl_seconds=self.window)
        except Exception as exc:
            log.warning("login throttle unavailable: %s", exc)

    async def succeeded(self, email: str, client: str) -> None:
        """The owner is in: this address starts afresh and is known from now on."""
        pair, _, known = self._keys(email, client)
        try:
            await self.kv.delete(pair)
            await self.kv.set(known, "1", ttl_seconds=KNOWN_ADDRESS_SECONDS)
        except Exception as exc:
            log.warning("login throttle unavailable: %s", exc)

    async def _reached(self, key: str, limit: int) -> bool:
        if limit <= 0:
            return False
        count = await self.kv.get(key)
        return count is not None and int(count) >= limit

    async def _seconds_left(self, key: str) -> int:
        left = await self.kv.ttl(key)
        return math.ceil(left) if left is not None else self.window


class MailQuota:
    def __init__(self, kv: KeyValueStore, *, per_recipient: int, window_seconds: int) -> None:
        self.kv = kv
        self.per_recipient = per_recipient
        self.window = window_seconds

    @classmethod
    def from_settings(cls, kv: KeyValueStore, settings: Settings) -> MailQuota:
        return cls(
            kv,
            per_recipient=settings.rate_limit_mails_per_recipient,
            window_seconds=settings.rate_limit_mails_window_seconds,
        )

    async def take(self, kind: str, email: str) -> bool:
        """Count one `kind` mail to `email`; False when it is one too many."""
        if self.per_recipient <= 0:
            return True
        try:
            count = await self.kv.incr(self._key(kind, email), ttl_seconds=self.window)
        except Exception as exc:
            log.warning("mail quota unavailable: %s", exc)
            return True
        return count <= self.per_recipient

    async def seconds_left(self, kind: str, email: str) -> int:
        """How long until `take` may say yes again (for a `Retry-After`)."""
        try:
            left = await self.kv.ttl(self._key(kind, email))
        except Exception as exc:
            log.warning("mail quota unavailable: %s", exc)
            left = None
        return math.ceil(left) if left is not None else self.window

    @staticmethod
    def _key(kind: str, email: str) -> str:
        return f"mail:sent:{kind}:{account_key(email)}"
