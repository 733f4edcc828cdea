"""Settings read the contract's configuration names from the environment."""

from __future__ import annotations

import pytest

from common.config import Settings


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "PUBLIC_BASE_URL", "FRONTEND_URL", "CORS_ORIGINS", "ACCESS_TOKEN_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.port == 8000
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.frontend_url == "http://127.0.0.1:5500"
    assert settings.cors_origins == ["http://127.0.0.1:5500", "http://localhost:5500"]
    assert settings.access_token_minutes == 60


def test_public_base_url_follows_port_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    assert Settings().public_base_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://videos.example.org/")
    assert Settings().public_base_url == "https://videos.example.org"


def test_lists_come_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "http://a.test/, http://b.test")
    monkeypatch.setenv("BUS_RETRY_DELAYS_MS", "10,20")
    settings = Settings()
    assert settings.cors_origins == ["http://a.test", "http://b.test"]
    assert settings.bus_retry_delays_ms == [10, 20]


def test_access_tokens_live_at_least_thirty_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_MINUTES", "20")  # the client refreshes every 20 minutes
    with pytest.raises(ValueError, match="access_token_minutes"):
        Settings()
