"""Rendering: structure, links, escaping, headers. No network."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mailer.compose import InvalidMail, Mail, compose, logo_png
from tests.support.mailer import ACTIVATION_LINK, RESET_LINK, parse, parts, settings_for


def render(tmp_path: Path, **fields: str) -> tuple:  # type: ignore[type-arg]
    mail = Mail(
        **{"kind": "activation", "address": "a@example.com", "link": ACTIVATION_LINK, **fields}
    )
    message = compose(mail, settings_for(tmp_path), mail_id=uuid.uuid4())
    received = parse(message.as_bytes())
    return received, parts(received)


def test_logo_is_a_real_png() -> None:
    data = logo_png()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20]), int.from_bytes(data[20:24])
    assert (width, height) == (200, 50)


def test_structure_is_alternative_with_related_html(tmp_path: Path) -> None:
    message, body = render(tmp_path)
    assert message.get_content_type() == "multipart/alternative"
    text, related = message.get_payload()
    assert text.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, logo = related.get_payload()
    assert html.get_content_type() == "text/html"
    assert logo.get_content_type() == "image/png"
    assert logo.get_content_disposition() == "inline"
    assert logo.get_content() == logo_png()
    assert f'src="cid:{logo["Content-ID"].strip("<>")}"' in body.html


def test_link_is_verbatim_in_both_parts(tmp_path: Path) -> None:
    _, body = render(tmp_path, kind="password_reset", link=RESET_LINK)
    assert RESET_LINK in body.text
    assert f'href="{RESET_LINK}"' in body.html
    assert "24 hours" in body.text and "24 hours" in body.html


def test_hostile_address_is_escaped_in_html(tmp_path: Path) -> None:
    address = '"<script>alert(1)</script>"@example.com'
    _, body = render(tmp_path, address=address)
    assert "<script>" not in body.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body.html
    assert address in body.text  # plain text is not HTML: shown as it is


def test_hostile_link_is_escaped_in_html(tmp_path: Path) -> None:
    link = 'https://evil.test/x?a="><script>alert(1)</script>&b=1'
    _, body = render(tmp_path, link=link)
    assert "<script>" not in body.html
    assert 'href="https://evil.test/x?a=&#34;&gt;&lt;script&gt;' in body.html


def test_ampersand_entity_lookalikes_are_escaped(tmp_path: Path) -> None:
    # "&not" would be read as the entity ¬ by an HTML parser: must not go in verbatim
    link = "http://127.0.0.1:5500/pages/auth/activate.html?uid=MQ&notice=1&token=x"
    _, body = render(tmp_path, link=link)
    assert "?uid=MQ&amp;notice=1&amp;token=x" in body.html


def test_headers(tmp_path: Path) -> None:
    mail_id = uuid.uuid4()
    mail = Mail(kind="activation", address="A.User@Example.com", link=ACTIVATION_LINK)
    message = parse(compose(mail, settings_for(tmp_path), mail_id=mail_id).as_bytes())
    assert message["Subject"] == "Confirm your email"
    assert message["From"] == "Videoflix <noreply@videoflix.test>"
    assert message["To"] == "A.User@Example.com"
    assert message["Date"].datetime is not None
    assert message["Message-ID"] == f"<{mail_id}@videoflix.test>"
    assert message["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("address", "not an address"),
        ("address", "a@example.com\r\nBcc: victim@example.com"),
        ("address", "one@example.com, two@example.com"),
        ("address", "Someone <a@example.com>"),
        ("link", "javascript:alert(1)"),
        ("link", "/pages/auth/activate.html?uid=MQ&token=x"),
        ("link", "http://127.0.0.1:5500/a b"),
    ],
)
def test_unusable_requests_are_refused(tmp_path: Path, field: str, value: str) -> None:
    with pytest.raises(InvalidMail):
        render(tmp_path, **{field: value})
