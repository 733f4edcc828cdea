"""What the mailer tests share: settings, the envelopes that ask for a mail, and reading the
mails that were sent."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from common.config import Settings
from common.events import Envelope, MailRequested
from common.security.sealing import Sealer, generate_key

MAIL_FROM = "Videoflix <noreply@videoflix.test>"
FRONTEND = "http://127.0.0.1:5500"
ACTIVATION_LINK = f"{FRONTEND}/pages/auth/activate.html?uid=MTI&token=c4x9-k2Lm_Qz8Yt3Wv7RbN1pHs5"
RESET_LINK = f"{FRONTEND}/pages/auth/confirm_password.html?uid=MTI&token=d7e-Hq2Zk_9Pw4Lx6Mv1Jt0Ns3"
# the key identity and the mailer share in these tests (MAIL_LINK_KEY)
LINK_KEY = generate_key()
LINK_SEALER = Sealer([LINK_KEY])


def settings_for(data_dir: Path, *, smtp_host: str = "", smtp_port: int = 25) -> Settings:
    return Settings(
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_user="",
        smtp_password="",
        smtp_starttls=False,
        smtp_timeout_seconds=5,
        mail_from=MAIL_FROM,
        data_dir=data_dir,
        frontend_url=FRONTEND,
        environment="test",
        mail_link_key=LINK_KEY,
    )


def activation(address: str = "new.user@example.com", link: str = ACTIVATION_LINK) -> Envelope:
    """What identity publishes: the link sealed with LINK_KEY."""
    sealed = LINK_SEALER.seal(link)
    return MailRequested(kind="activation", address=address, sealed_link=sealed).envelope()


def password_reset(address: str = "new.user@example.com", link: str = RESET_LINK) -> Envelope:
    sealed = LINK_SEALER.seal(link)
    return MailRequested(kind="password_reset", address=address, sealed_link=sealed).envelope()


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@dataclass
class Parts:
    text: str
    html: str
    images: list[EmailMessage]


def parts(message: EmailMessage) -> Parts:
    """The decoded text and HTML bodies and the image parts of a received mail."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    images = [p for p in message.walk() if p.get_content_maintype() == "image"]
    return Parts(text.get_content(), html.get_content(), images)  # type: ignore[arg-type]
