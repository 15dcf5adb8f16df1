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
import threading
import time
from collections.abc import Callable
from pathlib import Path

import click
import httpx

from billstack import routes, server
from billstack.cli.output import CommandFailed, json_option, progress
from billstack.cli.root import main
from billstack.config import Settings, reset_settings

DEMO_DIR = Path("data") / "demo"
EMULATOR_PORT = 12111
EMULATOR_START_S = 20
# From starting the (already built) server until it must answer on its port.
SERVER_START_S = 120
POLL_INTERVAL_S = 0.25

# (emulator URL, public URL) -> the seeded tenant's ids, API key and portal URL.
SeedDemo = Callable[[str, str], dict[str, str]]


@main.command(short_help="Run a seeded demo on the local Stripe emulator.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to serve the demo on [default: BILLSTACK_PORT, else 8000]; the printed URLs follow it.")
@json_option
def demo(port: int | None) -> None:
    """Seed a demo tenant on the local Stripe emulator and run the server (prints URL, key, curl).

    "BillStack demo is ready" and the URLs are printed once the server answers on its
    port. The public URL is http://localhost:<port> unless BILLSTACK_PUBLIC_URL is set.
    Long-running: with --json only a startup error is JSON.
    """
    from devtools.demo_tenant import seed_demo_tenant  # dev tool: loaded only by this command

    try:
        run_demo(seed_demo_tenant, port=port)
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


def run_demo(seed: SeedDemo, *, port: int | None = None) -> None:
    os.environ.setdefault("BILLSTACK_DATA_DIR", str(DEMO_DIR))
    data_dir = Path(os.environ["BILLSTACK_DATA_DIR"])
    os.environ.setdefault("BILLSTACK_DATABASE_URL", f"sqlite:///{(data_dir / 'billstack.db').resolve()}")
    if data_dir.resolve() == DEMO_DIR.resolve() and data_dir.exists():
        shutil.rmtree(data_dir)  # the emulator forgets everything on restart, so does the demo
    if port is not None:
        os.environ["BILLSTACK_PORT"] = str(port)  # for every URL the demo makes, the portal link's too
    reset_settings()
    check_port_free(server.effective_settings(None, None))
    emulator_process = start_emulator()
    try:
        settings, public_url = server.prepare()
        print("==> seeding a demo tenant and customers", flush=True)
        summary = seed(emulator_process.url, public_url)
        serve_then_announce(settings, public_url, lambda: print_summary(summary, public_url, emulator_process.url))
    finally:
        emulator_process.stop()


def check_port_free(settings: Settings) -> None:
    """Before the minute of preparation: a busy port is an error that says which one."""
    try:
        socket.create_connection((_local_host(settings.host), settings.port), timeout=2).close()
    except OSError:
        return  # nothing listens there
    raise CommandFailed(
        f"port {settings.port} is already in use on {settings.host}; choose another with --port.",
        code="port_in_use", type="configuration_error", param="port",
    )


def serve_then_announce(settings: Settings, public_url: str, announce: Callable[[], None]) -> None:
    """Run the server; `announce` once it answers on its port. If it does not within
    SERVER_START_S, stop it and fail with an error that names the address."""
    url = f"http://{_url_host(_local_host(settings.host))}:{settings.port}"
    watch = ReadinessWatch(url, SERVER_START_S, announce, on_timeout=stop_server)
    watch.start()
    try:
        server.run_server(settings, public_url)
    finally:
        watch.stop()
    if watch.timed_out:
        raise CommandFailed(
            f"the demo server did not answer on {url} within {SERVER_START_S:g} s (see its output above).",
            code="server_not_ready", type="api_error",
        )


class ReadinessWatch(threading.Thread):
    """Polls `<url>/ping` until it answers 200 (then calls `on_ready`) or `timeout_s`
    passes (then flags `timed_out` and calls `on_timeout`)."""

    def __init__(
        self, url: str, timeout_s: float, on_ready: Callable[[], None], on_timeout: Callable[[], None]
    ) -> None:
        super().__init__(name="billstack-demo-ready", daemon=True)
        self.url, self.timeout_s = url, timeout_s
        self.on_ready, self.on_timeout = on_ready, on_timeout
        self.timed_out = False
        self._stopped = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not self._stopped.is_set():
            if server_answers(self.url):
                self.on_ready()
                return
            if time.monotonic() >= deadline:
                self.timed_out = True
                self.on_timeout()
                return
            self._stopped.wait(POLL_INTERVAL_S)  # bounded pause between polls; ends at once on stop()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


def server_answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ping", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_server() -> None:
    """Granian's main process stops its workers and returns on SIGTERM."""
    os.kill(os.getpid(), signal.SIGTERM)


def _local_host(host: str) -> str:
    """Where this machine reaches a server bound to `host` (a wildcard bind: loopback)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


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
