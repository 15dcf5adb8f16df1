"""`billstack serve` rebuilds the frontend exactly when its inputs or public URL change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from billstack import server


@pytest.fixture
def app_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "billstack").mkdir()
    (tmp_path / "billstack" / "page.py").write_text("TITLE = 'Billing'\n")
    (tmp_path / "rxconfig.py").write_text("config = None\n")
    monkeypatch.setattr(server, "ROOT", tmp_path)
    monkeypatch.delenv("REFLEX_WEB_WORKDIR", raising=False)
    return tmp_path


def _pretend_built(tree: Path, public_url: str) -> None:
    client = tree / ".web" / "build" / "client"
    client.mkdir(parents=True)
    (client / "index.html").write_text("<html></html>")
    server.stamp_file().write_text(json.dumps({"stamp": server.build_stamp(public_url)}))


def test_stamp_depends_on_public_url_and_sources(app_tree: Path) -> None:
    first = server.build_stamp("http://localhost:8000")
    assert server.build_stamp("http://localhost:8000") == first
    assert server.build_stamp("http://localhost:9000") != first
    (app_tree / "billstack" / "page.py").write_text("TITLE = 'Invoices'\n")
    assert server.build_stamp("http://localhost:8000") != first


def test_bytecode_caches_do_not_trigger_rebuilds(app_tree: Path) -> None:
    first = server.build_stamp("http://localhost:8000")
    cache = app_tree / "billstack" / "__pycache__"
    cache.mkdir()
    (cache / "page.cpython-311.pyc").write_bytes(b"\x00")
    assert server.build_stamp("http://localhost:8000") == first


def test_bundle_is_current_only_for_the_url_it_was_built_for(app_tree: Path) -> None:
    assert not server.frontend_is_current("http://localhost:8000")  # never built
    _pretend_built(app_tree, "http://localhost:8000")
    assert server.frontend_is_current("http://localhost:8000")
    assert not server.frontend_is_current("https://billing.example.com")
    (app_tree / "rxconfig.py").write_text("config = 1\n")
    assert not server.frontend_is_current("http://localhost:8000")


def test_build_is_skipped_when_current(app_tree: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _pretend_built(app_tree, "http://localhost:8000")
    monkeypatch.setattr(server.subprocess, "run", lambda *a, **k: pytest.fail("must not rebuild"))
    server.build_frontend("http://localhost:8000")
    assert "current" in capsys.readouterr().out


def test_web_dir_follows_reflex_web_workdir(app_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", ".web-e2e")
    assert server.web_dir() == app_tree / ".web-e2e"


def test_state_left_on_disk_by_an_earlier_version_is_deleted(app_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reflex's disk state manager pickled whole tabs' state (tokens, customer data) there."""
    monkeypatch.delenv("REFLEX_STATES_WORKDIR", raising=False)
    states = app_tree / ".states"
    states.mkdir()
    (states / "0a1b.pkl").write_bytes(b"portal token and email")
    server.remove_disk_state()
    assert not states.exists()
    server.remove_disk_state()  # nothing there: fine
