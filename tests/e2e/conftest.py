"""Browser fixtures for Playwright tests: Debian's Chromium, never a downloaded browser.

These tests run in their own pytest invocation (`make test` does that), because
pytest-playwright's sync fixtures and pytest-asyncio's event loop do not mix.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)
    # The demo binds the live server's port itself, so it runs before that server starts.
    items.sort(key=lambda item: 0 if item.path.name == "test_demo.py" else 1)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; run `make setup` (installs Debian's chromium).")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- a real BillStack server (billstack serve) and the emulator, for the whole run ---------

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import httpx  # noqa: E402

from tests.conftest import TEST_SECRET_KEY  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# A fixed port keeps the frontend bundle (built for one public URL) reusable across runs.
E2E_PORT = int(os.environ.get("BILLSTACK_E2E_PORT", "18731"))
SERVER_START_TIMEOUT_S = 600  # the first build installs the frontend packages


@dataclass(frozen=True)
class LiveServer:
    url: str
    db_url: str
    emulator_url: str
    log_path: Path


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_until_up(url: str, process: subprocess.Popen, output: Callable[[], str], timeout_s: float) -> None:
    """Poll `/ping` until the server answers; fail with its output if it dies or stalls."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{output()[-4000:]}")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        try:
            process.wait(timeout=0.25)  # doubles as a bounded pause between polls
        except subprocess.TimeoutExpired:
            pass
    pytest.fail(f"server did not answer within {timeout_s} s:\n{output()[-4000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, emulator_url: str) -> Iterator[LiveServer]:
    if not _port_is_free(E2E_PORT):
        pytest.fail(f"Port {E2E_PORT} is busy; free it or set BILLSTACK_E2E_PORT to another port.")
    data_dir = tmp_path_factory.mktemp("live-data")
    db_url = f"sqlite:///{data_dir / 'billstack.db'}"
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("BILLSTACK_")
    } | {
        "BILLSTACK_DATA_DIR": str(data_dir),
        "BILLSTACK_DATABASE_URL": db_url,
        "BILLSTACK_SECRET_KEY": TEST_SECRET_KEY,
        "BILLSTACK_PORT": str(E2E_PORT),
        "BILLSTACK_HOST": "127.0.0.1",
        "BILLSTACK_PUBLIC_URL": f"http://localhost:{E2E_PORT}",
    }
    log_path = data_dir / "server.log"
    url = f"http://localhost:{E2E_PORT}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "billstack", "serve"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(url, process, log_path.read_text, SERVER_START_TIMEOUT_S)
        yield LiveServer(url=url, db_url=db_url, emulator_url=emulator_url, log_path=log_path)
    finally:
        stop(process)


@pytest.fixture
def live_db(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    """Point this test's own BillStack code at the live server's database (to seed it)."""
    from billstack.config import reset_settings

    monkeypatch.setenv("BILLSTACK_DATABASE_URL", live_server.db_url)
    reset_settings()
    return live_server
