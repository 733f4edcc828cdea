"""Render a mail request (its link unsealed) into a ready-to-send `EmailMessage`.

Structure (what common clients expect for an HTML mail with an embedded image):

    multipart/alternative
    ├── text/plain
    └── multipart/related
        ├── text/html          (references the logo as cid:...)
        └── image/png          (the logo, Content-ID, inline)
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError, MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from common.config import Settings
from common.events import MailKind

PACKAGE_DIR = Path(__file__).resolve().parent
LOGO_PATH = PACKAGE_DIR / "static" / "logo.png"

SUBJECTS = {
    "activation": "Confirm your email",
    "password_reset": "Reset your password",
}

# A link made only of these characters, and in which no HTML character reference could be
# recognised, means the same inside an attribute and in text whether escaped or not, so it
# goes into the HTML verbatim (the exact link stays findable in the decoded HTML part).
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,=%]+")


class InvalidMail(ValueError):
    """The request cannot become a mail (bad address or link); retrying cannot help."""


@dataclass(frozen=True)
class Mail:
    """What to send: a `MailRequested` with its link unsealed, which lives only in memory."""

    kind: MailKind
    address: str
    link: str


@cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


@cache
def logo_png() -> bytes:
    return LOGO_PATH.read_bytes()


def sender_domain(mail_from: str) -> str:
    """The domain of MAIL_FROM, used for Message-ID and Content-ID values."""
    _, addr = parseaddr(mail_from)
    domain = addr.rpartition("@")[2]
    return domain or "videoflix.local"


def check_mail_from(mail_from: str) -> None:
    """Fail at start-up, not per message, when MAIL_FROM is unusable."""
    message = EmailMessage()
    try:
        message["From"] = mail_from
        addresses = message["From"].addresses
    except (ValueError, MessageError) as exc:
        raise ValueError(f"MAIL_FROM is not a valid address: {mail_from!r}") from exc
    if len(addresses) != 1 or not addresses[0].domain:
        raise ValueError(f"MAIL_FROM must be exactly one address with a domain: {mail_from!r}")


def recipient(address: str) -> Address:
    """Parse the event's address as a single bare addr-spec (no display name, no list)."""
    try:
        parsed = Address(addr_spec=address.strip())
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise InvalidMail("the address is not a single valid email address") from exc
    if not parsed.username or not parsed.domain:
        raise InvalidMail("the address has no local part or no domain")
    return parsed


def checked_link(link: str) -> str:
    """Only absolute http(s) links, with nothing that could break out of the text."""
    if not re.match(r"https?://[^/\s]", link) or any(ord(c) < 33 or c == "\x7f" for c in link):
        raise InvalidMail("the link is not an absolute http(s) URL")
    return link


def html_link(link: str) -> str | Markup:
    if _PLAIN_URL.fullmatch(link) and html.unescape(link) == link:
        return Markup(link)  # noqa: S704 - only characters that are inert in HTML (see above)
    return link  # escaped by the template's autoescaping


def _valid_for(hours: int) -> str:
    return f"{hours} hour" if hours == 1 else f"{hours} hours"


def compose(
    mail: Mail,
    settings: Settings,
    *,
    mail_id: uuid.UUID | str | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """Build the message. `mail_id` (the envelope id) makes the Message-ID stable, so a
    rare resend of the same request carries the same Message-ID (clients fold duplicates)."""
    to = recipient(mail.address)
    link = checked_link(mail.link)
    domain = sender_domain(settings.mail_from)
    hours = (
        settings.activation_token_hours if mail.kind == "activation" else settings.reset_token_hours
    )
    logo_cid = make_msgid(idstring="logo", domain=domain)
    context = {
        "subject": SUBJECTS[mail.kind],
        "link": html_link(link),
        "link_href": html_link(link),
        "address": to.addr_spec,
        "valid_for": _valid_for(hours),
        "logo_cid": logo_cid[1:-1],
    }
    env = _templates()
    html_body = env.get_template(f"{mail.kind}.html").render(context)
    text_body = env.get_template(f"{mail.kind}.txt").render({**context, "link": link})

    message = EmailMessage()
    message["Subject"] = SUBJECTS[mail.kind]
    message["From"] = settings.mail_from
    message["To"] = to
    message["Date"] = now or datetime.now(UTC)
    message["Message-ID"] = (
        f"<{mail_id}@{domain}>" if mail_id else make_msgid(idstring="mail", domain=domain)
    )
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    message["X-Auto-Response-Suppress"] = "All"  # the same, for Exchange
    message.set_content(text_body)
    message.add_alternative(html_body, subtype="html")
    _, html_part = message.iter_parts()  # text/plain, text/html
    html_part.add_related(
        logo_png(),
        maintype="image",
        subtype="png",
        cid=logo_cid,
        disposition="inline",
        filename="videoflix-logo.png",
    )
    del html_part["MIME-Version"]  # only the top level needs it
    return message


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a composed message."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""
