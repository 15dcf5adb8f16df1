"""Browser fixtures for Playwright tests: Debian's Chromium, never a downloaded browser.

These tests run in their own pytest invocation (`make test` does that), because
pytest-playwright's sync fixtures and pytest-asyncio's event loop do not mix.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devtools.chromium import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)
    # The demo binds the live server's port itself, so it runs before that server starts;
    # the leak checks look at what the whole suite left behind, so they run last.
    order = {"test_demo.py": 0, "test_nothing_leaks.py": 2}
    items.sort(key=lambda item: order.get(item.path.name, 1))


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

from collections.abc import Iterator  # noqa: E402

from tests.e2e.seeding import Tenant, seed_tenant  # noqa: E402
from tests.live_server import LiveServer, live_billstack  # noqa: E402

# A fixed port keeps the frontend bundle (built for one public URL) reusable across runs.
E2E_PORT = int(os.environ.get("BILLSTACK_E2E_PORT", "18731"))


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, emulator_url: str) -> Iterator[LiveServer]:
    # JSON lines and the access log, as an operator would run it: test_nothing_leaks.py reads them all.
    with live_billstack(E2E_PORT, tmp_path_factory.mktemp("live-data"), emulator_url,
                        BILLSTACK_LOG_FORMAT="json", BILLSTACK_ACCESS_LOG="1") as server:
        yield server


@pytest.fixture
def live_db(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    """Point this test's own BillStack code at the live server's database (to seed it)."""
    from billstack.config import reset_settings

    monkeypatch.setenv("BILLSTACK_DATABASE_URL", live_server.db_url)
    reset_settings()
    return live_server


@pytest.fixture
def tenant(live_db: LiveServer) -> Tenant:
    """A fresh emulator account and project with the demo customer, seeded in the live database."""
    return seed_tenant(live_db.emulator_url)
