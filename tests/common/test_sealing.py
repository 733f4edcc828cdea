"""Sealing the links in mail events (common.security.sealing): what one key seals only its
holders open, keys rotate, and the mail link key is where identity and the mailer find it."""

from __future__ import annotations

import base64
import logging
import stat
from pathlib import Path

import pytest

from common.config import Settings
from common.security.sealing import (
    MAIL_LINK_KEY_FILE,
    Sealer,
    Unsealable,
    generate_key,
    is_placeholder,
    mail_link_sealer,
    parse_keys,
)

LINK = "http://127.0.0.1:5500/pages/auth/activate.html?uid=MTI&token=c4x9-k2Lm_Qz8Yt3Wv7RbN1pHs5"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sealed_text_hides_the_secret_and_opens_with_the_key() -> None:
    sealer = Sealer([generate_key()])
    sealed = sealer.seal(LINK)
    assert "token" not in sealed and "c4x9-k2Lm" not in sealed
    assert sealed != sealer.seal(LINK)  # a fresh IV every time
    assert sealer.unseal(sealed) == LINK


def test_other_keys_and_altered_text_do_not_open() -> None:
    sealer = Sealer([generate_key()])
    sealed = sealer.seal(LINK)
    with pytest.raises(Unsealable) as caught:
        Sealer([generate_key()]).unseal(sealed)
    assert sealed not in str(caught.value) and caught.value.__cause__ is None
    altered = sealed[:30] + ("A" if sealed[30] != "A" else "B") + sealed[31:]
    for text in (altered, LINK, "", "not base64 at all!"):
        with pytest.raises(Unsealable):
            sealer.unseal(text)


def test_rotation_the_first_key_seals_every_key_opens() -> None:
    old, new = generate_key(), generate_key()
    sealed_before = Sealer([old]).seal(LINK)
    rotated = Sealer([new, old])
    assert rotated.unseal(sealed_before) == LINK
    assert Sealer([new]).unseal(rotated.seal(LINK)) == LINK  # sealed with the new one


def test_keys_are_parsed_from_commas_or_white_space() -> None:
    a, b = generate_key(), generate_key()
    assert parse_keys(f" {a}, {b}\n") == [a, b]
    assert parse_keys(f"{a}\n{b}\n") == [a, b]
    assert parse_keys("  ") == []


@pytest.mark.parametrize("keys", [["too-short"], [generate_key(), "x" * 44], []])
def test_a_bad_key_is_refused_without_quoting_it(keys: list[str]) -> None:
    with pytest.raises(ValueError, match="MAIL_LINK_KEY") as caught:
        Sealer(keys, source="MAIL_LINK_KEY")
    for key in keys:
        assert key not in str(caught.value)


def settings(tmp_path: Path, key: str = "") -> Settings:
    return Settings(data_dir=tmp_path / "data", mail_link_key=key)


def test_the_configured_key_wins_and_nothing_is_written(tmp_path: Path) -> None:
    key = generate_key()
    sealed = mail_link_sealer(settings(tmp_path, key), create=True).seal(LINK)
    assert Sealer([key]).unseal(sealed) == LINK
    assert not (tmp_path / "data").exists()


def test_identity_creates_a_private_key_file_the_mailer_reads(tmp_path: Path) -> None:
    config = settings(tmp_path)
    with pytest.raises(ValueError, match="MAIL_LINK_KEY"):
        mail_link_sealer(config)  # the mailer, before identity ever started
    identity = mail_link_sealer(config, create=True)
    path = config.data_dir / MAIL_LINK_KEY_FILE
    assert mode(path) == 0o600
    assert mode(path.parent) == mode(path.parent.parent) == mode(config.data_dir) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    mailer = mail_link_sealer(config)
    assert mailer.unseal(identity.seal(LINK)) == LINK
    again = mail_link_sealer(config, create=True)  # a restart keeps the key
    assert again.unseal(identity.seal(LINK)) == LINK


def test_a_key_file_may_hold_rotated_keys(tmp_path: Path) -> None:
    config = settings(tmp_path)
    old, new = generate_key(), generate_key()
    path = config.data_dir / MAIL_LINK_KEY_FILE
    path.parent.mkdir(parents=True)
    path.write_text(f"{new}\n{old}\n")
    path.chmod(0o644)  # as an operator's editor may leave it
    sealer = mail_link_sealer(config)
    assert sealer.unseal(Sealer([old]).seal(LINK)) == LINK
    assert Sealer([new]).unseal(sealer.seal(LINK)) == LINK
    assert mode(path) == 0o600


def test_the_template_placeholder_is_usable_but_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    placeholder = base64.urlsafe_b64encode(b"change-me-mail-link-key-32bytes!").decode()
    assert is_placeholder(placeholder) and not is_placeholder(generate_key())
    assert not is_placeholder("not base64!")
    production = settings(tmp_path, placeholder).model_copy(update={"environment": "production"})
    with caplog.at_level(logging.WARNING, logger="common.security.sealing"):
        mail_link_sealer(settings(tmp_path, placeholder))
        assert not caplog.records  # development: quiet
        sealer = mail_link_sealer(production)
    assert "PLACEHOLDER" in caplog.text and placeholder not in caplog.text
    assert sealer.unseal(sealer.seal(LINK)) == LINK
