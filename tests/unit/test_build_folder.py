"""The frontend bundle: `serve`/`billstack build` say why they rebuild, and two servers sharing a
build folder never build at once (the second waits on the folder's lock, then finds it current)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from billstack import server
from billstack.cli import main
from billstack.config import reset_settings

URL = "http://localhost:8000"


@pytest.fixture
def app_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "billstack").mkdir()
    (tmp_path / "billstack" / "page.py").write_text("TITLE = 'Billing'\n")
    monkeypatch.setattr(server, "ROOT", tmp_path)
    monkeypatch.delenv("REFLEX_WEB_WORKDIR", raising=False)
    return tmp_path


def pretend_built(public_url: str) -> None:
    client = server.web_dir() / "build" / "client"
    client.mkdir(parents=True, exist_ok=True)
    (client / "index.html").write_text("<html></html>")
    server.stamp_file().write_text(json.dumps({"stamp": server.build_stamp(public_url), "publicUrl": public_url}))


def test_rebuild_reasons(app_tree: Path) -> None:
    assert server.rebuild_reason(URL).startswith("no frontend build in")
    pretend_built(URL)
    assert server.rebuild_reason(URL) is None
    assert server.rebuild_reason("https://billing.example.com") == f"the frontend was built for {URL}"
    (app_tree / "billstack" / "page.py").write_text("TITLE = 'Invoices'\n")
    assert server.rebuild_reason(URL) == "the app's sources changed since the frontend was built"


def test_the_build_says_why(app_tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    pretend_built("https://old.example.com")
    monkeypatch.setattr(server.subprocess, "run", lambda *a, **k: Done())
    assert server.build_frontend(URL) is True
    assert "(the frontend was built for https://old.example.com;" in capsys.readouterr().out
    assert server.rebuild_reason(URL) is None  # the stamp now records the new URL


def blocked_on(lock_file: Path) -> bool:
    """Whether some open file waits for a lock on `lock_file` (a `->` line in /proc/locks)."""
    inode = f":{lock_file.stat().st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


def test_a_second_build_waits_for_the_first_then_finds_it_current(
    app_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[str] = []
    monkeypatch.setattr(server.subprocess, "run", lambda *a, **k: builds.append("built") or pytest.fail("rebuilt"))
    second: list[bool] = []
    with server.build_lock():  # the first server, mid-build
        waiter = threading.Thread(target=lambda: second.append(server.build_frontend(URL)))
        waiter.start()
        deadline = time.monotonic() + 10
        while not blocked_on(server.build_lock_file()):
            assert time.monotonic() < deadline, "the second build never waited for the lock"
            waiter.join(timeout=0.01)
            assert waiter.is_alive() or second, "the second build ran without waiting"
        pretend_built(URL)  # the first server's build completes
    waiter.join(timeout=10)
    assert second == [False] and builds == []


def test_build_command_reports_a_current_bundle_as_one_json_object(
    app_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLSTACK_PUBLIC_URL", URL + "/")
    reset_settings()
    pretend_built(URL)
    monkeypatch.setattr(server.subprocess, "run", lambda *a, **k: pytest.fail("must not rebuild"))
    result = CliRunner().invoke(main, ["build", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "id": URL, "object": "frontend_build", "publicUrl": URL, "webDir": str(app_tree / ".web"), "built": False,
    }
    assert f"Frontend bundle is current for {URL}" in result.stderr


def test_build_command_force_rebuilds_for_the_given_url(app_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_built("https://billing.example.com")
    calls: list[dict] = []
    monkeypatch.setattr(server.subprocess, "run", lambda *a, **k: calls.append(k["env"]) or Done())
    result = CliRunner().invoke(main, ["build", "--public-url", "https://billing.example.com", "--force"])
    assert result.exit_code == 0, result.output
    assert [env["REFLEX_API_URL"] for env in calls] == ["https://billing.example.com"]
    assert "(--force;" in result.output


class Done:
    returncode = 0
