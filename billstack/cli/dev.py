"""Development commands: `billstack emulator` (the local Stripe emulator) and `billstack demo`
(`make demo`: a working BillStack on embedded defaults in one command).

The demo starts the emulator, seeds the demo tenant (devtools.demo_tenant: team, branded
project, API key, a realistic customer and a second one, the project's Stripe webhook
endpoint, so changes made in the emulator reach open portal pages live), then runs the real
server and prints the portal URL, the API key and a ready `curl` for the session API. Demo
data lives in `data/demo/` and starts fresh on every run: the emulator keeps its state in
memory.

This is the only module of `billstack` that may import `stripe_emulator` or `devtools`, and
only inside these commands, so `billstack serve` (and the served app) never loads them.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import httpx

from billstack import routes, server
from billstack.cli.output import json_option, progress
from billstack.cli.root import main
from billstack.config import reset_settings

DEMO_DIR = Path("data") / "demo"
EMULATOR_PORT = 12111
EMULATOR_START_S = 20

# (emulator URL, public URL) -> the seeded tenant's ids, API key and portal URL.
SeedDemo = Callable[[str, str], dict[str, str]]


@main.command(short_help="Run a seeded demo on the local Stripe emulator.")
@json_option
def demo() -> None:
    """Seed a demo tenant on the local Stripe emulator and run the server (prints URL, key, curl).

    Long-running: with --json only a startup error is JSON.
    """
    from devtools.demo_tenant import seed_demo_tenant  # dev tool: loaded only by this command

    try:
        run_demo(seed_demo_tenant)
    except KeyboardInterrupt:
        progress("Demo stopped.")


@main.command(short_help="Run the local Stripe emulator (demo and tests).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address.")
@click.option("--port", type=click.IntRange(0, 65535), default=12111, show_default=True, help="Port (0: any free port).")
@click.option("--latency-ms", type=click.IntRange(min=0), default=0, show_default=True, help="Delay every response.")
@json_option
def emulator(host: str, port: int, latency_ms: int) -> None:
    """Run the local Stripe emulator (demo and tests; speaks Stripe's wire protocol).

    Long-running: with --json only a startup error is JSON.
    """
    from stripe_emulator.server import serve as run_emulator  # dev tool: loaded only by this command

    try:
        run_emulator(host=host, port=port, latency_ms=latency_ms)
    except KeyboardInterrupt:
        progress("Emulator stopped.")


# --- the demo's flow -------------------------------------------------------------------------


def run_demo(seed: SeedDemo) -> None:
    os.environ.setdefault("BILLSTACK_DATA_DIR", str(DEMO_DIR))
    data_dir = Path(os.environ["BILLSTACK_DATA_DIR"])
    os.environ.setdefault("BILLSTACK_DATABASE_URL", f"sqlite:///{(data_dir / 'billstack.db').resolve()}")
    if data_dir.resolve() == DEMO_DIR.resolve() and data_dir.exists():
        shutil.rmtree(data_dir)  # the emulator forgets everything on restart, so does the demo
    reset_settings()
    emulator_process = start_emulator()
    try:
        settings, public_url = server.prepare()
        print("==> seeding a demo tenant and customers", flush=True)
        summary = seed(emulator_process.url, public_url)
        print_summary(summary, public_url, emulator_process.url)
        server.run_server(settings, public_url)
    finally:
        emulator_process.stop()


class EmulatorProcess:
    """`billstack emulator` in a child process, ready once its health check answers."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "billstack", "emulator", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_end_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + EMULATOR_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"The Stripe emulator exited with {self.process.returncode}.")
            try:
                httpx.get(f"{self.url}/_emulator/health", timeout=1)
                return
            except httpx.HTTPError:
                try:
                    self.process.wait(timeout=0.1)  # bounded pause between readiness polls
                except subprocess.TimeoutExpired:
                    pass
        self.stop()
        raise RuntimeError(f"The Stripe emulator did not start within {EMULATOR_START_S} s.")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _end_with_parent() -> None:
    """Linux: the emulator gets SIGTERM when the demo process ends, however it ends
    (a SIGTERM to the demo stops Granian without running our `finally`)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_emulator() -> EmulatorProcess:
    port = EMULATOR_PORT if _port_free(EMULATOR_PORT) else _free_port()
    print(f"==> starting the local Stripe emulator on 127.0.0.1:{port}", flush=True)
    return EmulatorProcess(port)


def print_summary(summary: dict[str, str], public_url: str, emulator_url: str) -> None:
    endpoint = public_url + routes.portal_sessions_path(summary["team"], summary["project"])
    curl = (
        f"curl -s -X POST {endpoint} \\\n"
        f"  -H 'Authorization: Bearer {summary['api_key']}' \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d '{{\"customerId\": \"{summary['customer']}\", \"ttlMs\": 3600000}}'"
    )
    print(
        "\n"
        "BillStack demo is ready.\n"
        f"  Portal (Jamie Rivera, valid 24 h): {summary['portal_url']}\n"
        f"  Team:      {summary['team']}\n"
        f"  Project:   {summary['project']}\n"
        f"  Customer:  {summary['customer']}  (second customer: {summary['other_customer']})\n"
        f"  API key:   {summary['api_key']}   (shown once)\n"
        f"  Stripe emulator: {emulator_url}  (test card 4242 4242 4242 4242)\n"
        f"  Webhooks:  {summary['webhook_url']}  (changes made in the emulator update open pages)\n"
        "\n"
        "Create another portal session:\n"
        f"{curl}\n",
        flush=True,
    )


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
