"""Where composed mail goes: an SMTP server, or (without SMTP_HOST) the console and an outbox.

Both senders raise on failure so the bus retries with its delays; `PermanentError` marks a
failure that no retry can fix (the server refused the recipient or the message for good).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from common.bus import PermanentError
from common.config import Settings
from mailer.compose import text_of

log = logging.getLogger(__name__)

# Implicit TLS ("submissions", RFC 8314) is the only thing spoken on this port.
IMPLICIT_TLS_PORT = 465


class Sender(Protocol):
    # The longest one `send` may take; the handler's in-flight claim outlives it.
    max_seconds: float

    async def send(self, message: EmailMessage, *, kind: str, mail_id: str) -> None: ...


class SmtpSender:
    """One SMTP conversation per mail (aiosmtplib.send): mail is rare, connections are cheap."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username or None
        self.password = password or None
        self.use_tls = port == IMPLICIT_TLS_PORT and not starttls
        # STARTTLS only when configured: opportunistic upgrades against servers with
        # self-signed certificates would fail verification on every single mail.
        self.starttls = starttls
        self.timeout = timeout
        # aiosmtplib's timeout is per operation; bound the whole conversation as well.
        self.max_seconds = timeout * 4

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSender:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )

    async def send(self, message: EmailMessage, *, kind: str, mail_id: str) -> None:
        try:
            async with asyncio.timeout(self.max_seconds):
                await aiosmtplib.send(
                    message,
                    hostname=self.host,
                    port=self.port,
                    username=self.username,
                    password=self.password,
                    use_tls=self.use_tls,
                    start_tls=self.starttls,
                    timeout=self.timeout,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentError(f"SMTP server refused the recipient ({codes})") from exc
            raise
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            # 5xx on RCPT or DATA is about this very message: the same answer every time.
            if 500 <= exc.code < 600:
                raise PermanentError(f"SMTP server refused the mail ({exc.code})") from exc
            raise
        log.info(
            "mail sent over SMTP",
            extra={"mail_id": mail_id, "kind": kind, "smtp_host": self.host},
        )

    async def ping(self) -> bool:
        """Can we open an SMTP session? Greeting and QUIT, no login, no TLS upgrade."""
        client = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, use_tls=self.use_tls, start_tls=False, timeout=2
        )
        try:
            async with asyncio.timeout(2.5):  # inside the 3 s of /readyz
                await client.connect()
                await client.quit()
        except (OSError, aiosmtplib.SMTPException, TimeoutError):
            return False
        finally:
            client.close()
        return True


class ConsoleSender:
    """The development sender: logs the text version and keeps the whole mail as a file
    `<outbox>/<timestamp>-<kind>-<id>.eml` that any mail client opens."""

    max_seconds = 10.0

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, message: EmailMessage, *, kind: str, mail_id: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.outbox / f"{stamp}-{kind}-{mail_id}.eml"
        data = message.as_bytes(policy=policy.SMTP)
        await asyncio.to_thread(_write_atomically, path, data)
        log.info(
            "mail not sent (no SMTP_HOST); kept in the outbox\nTo: %s\nSubject: %s\n\n%s",
            message["To"],
            message["Subject"],
            text_of(message),
            extra={"mail_id": mail_id, "kind": kind, "eml": str(path)},
        )


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers (a developer's mail client, a test) never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def create_sender(settings: Settings) -> SmtpSender | ConsoleSender:
    """SMTP whenever SMTP_HOST is set, in every wiring; the console otherwise."""
    if settings.smtp_host:
        return SmtpSender.from_settings(settings)
    if not settings.is_development:
        log.warning("SMTP_HOST is not set: mail is only logged and kept in the outbox")
    return ConsoleSender(settings.data_dir / "outbox")
