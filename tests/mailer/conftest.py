"""Fixtures of the mailer tests: settings for SMTP (into a capture server) or the console, and
a key-value store. The plain helpers are in tests/support/mailer.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import Settings
from common.kv.memory import InMemoryKeyValueStore
from tests.support.mailer import settings_for
from tests.support.services import SmtpCapture


@pytest.fixture
def smtp_settings(smtp_capture: SmtpCapture, tmp_path: Path) -> Settings:
    return settings_for(tmp_path, smtp_host=smtp_capture.host, smtp_port=smtp_capture.port)


@pytest.fixture
def console_settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


@pytest.fixture
def kv() -> InMemoryKeyValueStore:
    return InMemoryKeyValueStore()
