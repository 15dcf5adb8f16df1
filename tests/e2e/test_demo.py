"""`billstack demo` (what `make demo` runs), tried as a newcomer: it prints a portal URL that works,
only once the server answers, and the portal's "Return to …" lands on a page that explains itself."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import E2E_PORT
from tests.live_server import REPO, port_is_free, stop

DEMO_TIMEOUT_S = 600
READY = "BillStack demo is ready."


def _read_output(process: subprocess.Popen, lines: list[str], ready: threading.Event) -> None:
    """Keep draining the demo's output (a full pipe would stall it); flag the banner."""
    for line in process.stdout:  # type: ignore[union-attr]
        lines.append(line)
        if READY in line:
            ready.set()
    ready.set()  # the demo ended: stop waiting


def _demo_port() -> int:
    """The live server's port when free (its frontend bundle, built for that URL, is then
    shared: the demo runs before that server starts), else any free port."""
    if port_is_free(E2E_PORT):
        return E2E_PORT
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_prints_a_working_portal_url_api_key_and_curl(page: Page, tmp_path: Path) -> None:
    port = _demo_port()
    base = f"http://localhost:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSTACK_")} | {
        "BILLSTACK_DATA_DIR": str(tmp_path / "demo"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "billstack", "demo", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_read_output, args=(process, lines, ready), daemon=True).start()
    try:
        if not ready.wait(timeout=DEMO_TIMEOUT_S) or process.poll() is not None:
            pytest.fail(f"billstack demo did not start serving:\n{''.join(lines)[-4000:]}")
        output = "".join(lines)
        # "ready" means ready: the server answers at once, no waiting for it.
        assert httpx.get(f"{base}/ping", timeout=5).status_code == 200
        assert output.index("BillStack listening on") < output.index(READY)
        portal_url = re.search(r"Portal \(.*\): (\S+)", output).group(1)
        api_key = re.search(r"API key:\s+(bsk_\S+)", output).group(1)
        team = re.search(r"Team:\s+(team_\S+)", output).group(1)
        project = re.search(r"Project:\s+(proj_\S+)", output).group(1)
        customer = re.search(r"Customer:\s+(pc_\S+)", output).group(1)
        assert portal_url.startswith(f"{base}/portal/")
        assert f"curl -s -X POST {base}/api/billstack/teams/{team}/projects/{project}/portal" in output

        page.goto(portal_url)
        try:
            expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible(timeout=60_000)
        except AssertionError:
            print("".join(lines)[-6000:])
            raise
        expect(page.get_by_text(re.compile(r"^Renews on "))).to_have_count(2)
        expect(page.get_by_role("link", name=re.compile(r"^Pay invoice "))).to_have_count(1)
        expect(page.get_by_text("Visa ending in 4242")).to_be_visible()
        # Plan changes are on in the demo: each subscription offers its picker, with the catalogue.
        expect(page.get_by_role("button", name=re.compile(r"^Update plan – "))).to_have_count(2)
        page.get_by_role("button", name="Update plan – Team plan").click()
        dialog = page.get_by_role("dialog")
        for plan in ("Starter", "Team plan", "Business"):
            expect(dialog.get_by_role("radio", name=re.compile(f"^{plan}"))).to_be_visible()
        expect(dialog.get_by_role("button", name="Increase quantity")).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)

        # The printed curl's request works against the running demo.
        minted = httpx.post(
            f"{base}/api/billstack/teams/{team}/projects/{project}/portal",
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            json={"customerId": customer, "ttlMs": 3600000},
        )
        assert minted.status_code == 200, minted.text

        # "Return to Acme Cloud" lands on a page that says what it stands for.
        page.get_by_role("link", name="Return to Acme Cloud").first.click()
        expect(page).to_have_url(f"{base}/?returned-from=billstack")
        expect(page.get_by_role("status")).to_contain_text(
            "This is where your app would be: the customer has returned from the billing portal."
        )
    finally:
        stop(process)
    # Stopping the demo stops its Stripe emulator too: nothing is left listening.
    emulator_url = re.search(r"Stripe emulator: (http://\S+)", output).group(1)
    assert _stops_answering(f"{emulator_url}/_emulator/health", within_s=15)


def _stops_answering(url: str, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    pause = threading.Event()
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
        except httpx.ConnectError:
            return True
        pause.wait(0.1)  # bounded pause between polls
    return False
