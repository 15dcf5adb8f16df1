"""`billstack demo --port`, and "demo is ready" only once the server answers on its port.

The server, the emulator and the seeding are stand-ins here (the real demo runs in
tests/e2e/test_demo.py): a small HTTP server plays Granian, started only when the test says so.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cli_helpers import assert_clean_error, run

from billstack import server
from billstack.cli import dev as cli_dev
from devtools import demo_tenant
from devtools.ports import free_port

WAIT_S = 10


class _Ping(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/ping" else 404)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def answering(port: int) -> Iterator[None]:
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Ping)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()


class FakeEmulator:
    url = "http://127.0.0.1:12111"

    def stop(self) -> None:
        pass


def fake_seed(emulator_url: str, public_url: str) -> dict[str, str]:
    return {"team": "team_1", "project": "proj_1", "api_key": "bsk_demo", "customer": "pc_1",
            "other_customer": "pc_2", "portal_url": f"{public_url}/portal/tok", "webhook_url": f"{public_url}/hook"}


@pytest.fixture
def demo_world(monkeypatch: pytest.MonkeyPatch, isolated_settings: Path) -> dict:
    """Everything around the server faked; the test provides run_server."""
    monkeypatch.setenv("BILLSTACK_DATABASE_URL", f"sqlite:///{isolated_settings / 'demo.db'}")
    # The demo sets BILLSTACK_PORT for itself (--port): restore it after the test.
    monkeypatch.setenv("BILLSTACK_PORT", "1")
    monkeypatch.delenv("BILLSTACK_PORT")
    monkeypatch.setattr(cli_dev, "start_emulator", FakeEmulator)
    monkeypatch.setattr(demo_tenant, "seed_demo_tenant", fake_seed)
    prepared: list[tuple] = []

    def fake_prepare(host: str | None = None, port: int | None = None) -> tuple:
        settings = server.effective_settings(host, port)
        prepared.append((host, port))
        return settings, settings.resolved_public_url

    monkeypatch.setattr(server, "prepare", fake_prepare)
    return {"prepared": prepared}


def test_demo_is_ready_only_once_the_server_answers_on_the_chosen_port(
    demo_world: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    polls: list[bool] = []
    polled_twice, announced = threading.Event(), threading.Event()
    real_answers, real_summary = cli_dev.server_answers, cli_dev.print_summary
    output_before_listening: list[str] = []

    def counting_answers(url: str) -> bool:
        answer = real_answers(url)
        polls.append(answer)
        if len([p for p in polls if not p]) >= 2:
            polled_twice.set()
        return answer

    def summary(*args: object) -> None:
        real_summary(*args)
        announced.set()

    def run_server(settings, public_url: str, **_kw: object) -> None:
        assert (settings.port, public_url) == (port, f"http://localhost:{port}")
        assert polled_twice.wait(WAIT_S)  # the watch has found nothing listening, twice
        assert not announced.is_set()
        output_before_listening.append("checked")
        with answering(port):
            assert announced.wait(WAIT_S)

    monkeypatch.setattr(cli_dev, "server_answers", counting_answers)
    monkeypatch.setattr(cli_dev, "print_summary", summary)
    monkeypatch.setattr(server, "run_server", run_server)

    result = run("demo", "--port", str(port))

    assert result.exit_code == 0, result.output
    assert output_before_listening == ["checked"] and polls[-1] is True and polls[:2] == [False, False]
    assert demo_world["prepared"] == [(None, None)]  # the port came through BILLSTACK_PORT
    assert "BillStack demo is ready." in result.stdout
    assert f"Portal (Jamie Rivera, valid 24 h): http://localhost:{port}/portal/tok" in result.stdout
    assert f"curl -s -X POST http://localhost:{port}/api/billstack/teams/team_1/projects/proj_1/portal" in result.stdout


def test_demo_port_defaults_to_the_settings_port(demo_world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple[int, str]] = []
    monkeypatch.setattr(cli_dev, "check_port_free", lambda settings: served.append((settings.port, "checked")))
    monkeypatch.setattr(cli_dev, "serve_then_announce", lambda settings, url, _announce: served.append((settings.port, url)))
    assert run("demo").exit_code == 0
    assert served == [(8000, "checked"), (8000, "http://localhost:8000")]
    monkeypatch.setenv("BILLSTACK_PORT", "8123")
    served.clear()
    assert run("demo").exit_code == 0
    assert served == [(8123, "checked"), (8123, "http://localhost:8123")]


def test_a_server_that_never_answers_is_stopped_with_an_error_naming_its_address(
    demo_world: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    stopped = threading.Event()
    monkeypatch.setattr(cli_dev, "SERVER_START_S", 0.5)
    monkeypatch.setattr(cli_dev, "stop_server", stopped.set)
    # Granian returns once stopped; this one never listens.
    monkeypatch.setattr(server, "run_server", lambda settings, public_url, **_kw: stopped.wait(WAIT_S))

    result = run("demo", "--port", str(port))

    assert stopped.is_set()
    assert_clean_error(result, says=f"the demo server did not answer on http://127.0.0.1:{port} within 0.5 s",
                       progress_ok=True)
    assert "demo is ready" not in result.stdout


def test_a_busy_port_is_refused_before_anything_starts(demo_world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setattr(cli_dev, "start_emulator", lambda: pytest.fail("the emulator was started"))
    with answering(port):
        result = run("demo", "--port", str(port))
    assert_clean_error(result, says=f"port {port} is already in use on 127.0.0.1; choose another with --port")
    assert demo_world["prepared"] == []


def test_demo_port_must_be_a_port(demo_world: dict) -> None:
    assert_clean_error(run("demo", "--port", "70000"), exit_code=2, says="70000")
