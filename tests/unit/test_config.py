"""Settings: BILLSTACK_* variables and .env, and the secret key in development and production."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from billstack.config import ConfigError, get_settings, reset_settings, resolve_secret_key
from cli_helpers import assert_clean_error, make_project, make_team, run, run_json


@pytest.fixture
def no_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLSTACK_SECRET_KEY")
    reset_settings()


def test_development_generates_a_key_once_persists_it_and_warns(
    no_secret_key: None, isolated_settings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = isolated_settings / "secret_key"
    assert not key_file.exists()
    with caplog.at_level(logging.WARNING, logger="billstack.config"):
        key = resolve_secret_key(get_settings())
    assert len(key) >= 48
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    (warning,) = [r for r in caplog.records if r.name == "billstack.config"]
    assert warning.levelno == logging.WARNING
    assert "BILLSTACK_SECRET_KEY is not set" in warning.getMessage() and str(key_file) in warning.getMessage()
    assert key not in warning.getMessage()

    # A new process (forgotten caches) reads the same key back, quietly.
    caplog.clear()
    reset_settings()
    with caplog.at_level(logging.WARNING, logger="billstack.config"):
        assert resolve_secret_key(get_settings()) == key
        assert get_settings().signing_keys() == [key]
    assert caplog.records == []


def test_each_data_folder_gets_its_own_development_key(
    no_secret_key: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = resolve_secret_key(get_settings())
    monkeypatch.setenv("BILLSTACK_DATA_DIR", str(tmp_path / "other"))
    reset_settings()
    assert resolve_secret_key(get_settings()) != first


def test_production_without_a_key_refuses_with_a_clear_message(
    no_secret_key: None, monkeypatch: pytest.MonkeyPatch, isolated_settings: Path
) -> None:
    monkeypatch.setenv("BILLSTACK_ENV", "production")
    reset_settings()
    with pytest.raises(ConfigError) as error:
        resolve_secret_key(get_settings())
    message = str(error.value)
    assert "BILLSTACK_SECRET_KEY is not set" in message and "BILLSTACK_ENV=production" in message
    assert "secrets.token_urlsafe" in message  # says how to make one
    assert not (isolated_settings / "secret_key").exists()


def test_production_uses_the_configured_key(monkeypatch: pytest.MonkeyPatch, isolated_settings: Path) -> None:
    monkeypatch.setenv("BILLSTACK_ENV", "production")
    monkeypatch.setenv("BILLSTACK_SECRET_KEY", "prod-" + "k" * 60)
    monkeypatch.setenv("BILLSTACK_SECRET_KEY_PREVIOUS", "old-" + "k" * 60)
    reset_settings()
    assert get_settings().signing_keys() == ["prod-" + "k" * 60, "old-" + "k" * 60]
    assert not (isolated_settings / "secret_key").exists()
    assert "kkkk" not in repr(get_settings())  # secrets stay out of reprs (and so out of logs)


def test_settings_come_from_the_environment_and_dot_env(
    monkeypatch: pytest.MonkeyPatch, isolated_settings: Path
) -> None:
    settings = get_settings()
    assert settings.env == "development"
    assert settings.resolved_database_url == f"sqlite:///{(isolated_settings / 'billstack.db').as_posix()}"
    assert settings.resolved_public_url == "http://localhost:8000"

    Path(".env").write_text("BILLSTACK_PORT=9123\nBILLSTACK_PUBLIC_URL=https://billing.example.com/\n")
    reset_settings()
    assert get_settings().port == 9123
    assert get_settings().resolved_public_url == "https://billing.example.com"
    monkeypatch.setenv("BILLSTACK_PORT", "9999")  # the environment wins over .env
    reset_settings()
    assert get_settings().port == 9999


def test_cli_in_development_keeps_using_the_generated_key(db_url: str, no_secret_key: None, isolated_settings: Path) -> None:
    """The generated key is what seals Stripe keys, so later commands must find the same one."""
    project = make_project(make_team())
    assert (isolated_settings / "secret_key").exists()
    reset_settings()  # as if the next command were a new process
    assert run_json("project", "show", project["id"])["stripeMode"] == "test"


def test_a_changed_secret_key_is_reported_not_crashed_on(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(make_team())
    monkeypatch.setenv("BILLSTACK_SECRET_KEY", "a-different-key-" + "y" * 40)
    reset_settings()
    assert run_json("project", "show", project["id"])["stripeMode"] == "unreadable"
    failed = run("customer", "create", "--project", project["id"], "--email", "a@example.com")
    assert_clean_error(failed, says="BILLSTACK_SECRET_KEY_PREVIOUS")

    # Rotation done right: the old key as BILLSTACK_SECRET_KEY_PREVIOUS still opens it.
    from tests.conftest import TEST_SECRET_KEY

    monkeypatch.setenv("BILLSTACK_SECRET_KEY_PREVIOUS", TEST_SECRET_KEY)
    reset_settings()
    assert run_json("project", "show", project["id"])["stripeMode"] == "test"
