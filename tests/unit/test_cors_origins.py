"""The origins a browser may call the API from: the public URL's, plus BILLSTACK_CORS_ORIGINS;
never `*`; each one exactly as a browser sends it in `Origin`."""

from __future__ import annotations

import pytest

from billstack.config import ConfigError, get_settings, reset_settings


def origins(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(f"BILLSTACK_{name.upper()}", value)
    reset_settings()
    return get_settings().allowed_origins()


def test_default_is_the_local_public_url_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert origins(monkeypatch) == ["http://localhost:8000"]
    assert origins(monkeypatch, port="9000") == ["http://localhost:9000"]


def test_public_url_and_listed_origins_as_browsers_send_them(monkeypatch: pytest.MonkeyPatch) -> None:
    assert origins(
        monkeypatch,
        public_url="https://Billing.Example.com:443/portal-base/",
        cors_origins=" https://app.example.com , http://LOCALHOST:3000/,https://app.example.com,http://[::1]:8080",
    ) == ["https://billing.example.com", "https://app.example.com", "http://localhost:3000", "http://[::1]:8080"]


@pytest.mark.parametrize("value", [
    "*", "https://*.example.com", "app.example.com", "https://app.example.com/path", "ftp://app.example.com",
    "https://app.example.com?x=1", "https://user@app.example.com", "https://app.example.com:port",
])
def test_anything_but_an_origin_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(ConfigError, match="BILLSTACK_CORS_ORIGINS"):
        origins(monkeypatch, cors_origins=f"https://ok.example.com,{value}")
