"""`make demo` / `billstack demo`: a working BillStack on embedded defaults in one command.

Starts the local Stripe emulator, seeds a demo tenant (team, branded project, API key)
and a realistic customer (two subscriptions, a year of invoices, an open invoice, a
card) plus a second customer, registers the project's Stripe webhook endpoint (so
changes made in the emulator reach open portal pages live), then runs the real server
and prints the portal URL, the API key and a ready `curl` for the session API.
Demo data lives in `data/demo/` and starts fresh on every run, because the emulator
keeps its state in memory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from sqlmodel import Session

    from billstack.models import ApiKey, Project, Team

DEMO_DIR = Path("data") / "demo"
EMULATOR_PORT = 12111


def run_demo() -> None:
    os.environ.setdefault("BILLSTACK_DATA_DIR", str(DEMO_DIR))
    data_dir = Path(os.environ["BILLSTACK_DATA_DIR"])
    os.environ.setdefault("BILLSTACK_DATABASE_URL", f"sqlite:///{(data_dir / 'billstack.db').resolve()}")
    if data_dir.resolve() == DEMO_DIR.resolve() and data_dir.exists():
        shutil.rmtree(data_dir)  # the emulator forgets everything on restart, so does the demo
    from billstack.config import reset_settings

    reset_settings()
    emulator = start_emulator()
    try:
        from billstack import server

        settings, public_url = server.prepare()
        summary = seed(emulator.url, public_url)
        print_summary(summary, public_url, emulator.url)
        server.run_server(settings, public_url)
    finally:
        emulator.stop()


class EmulatorProcess:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "billstack", "emulator", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_end_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + 20
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
        raise RuntimeError("The Stripe emulator did not start within 20 s.")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _end_with_parent() -> None:
    """Linux: the emulator gets SIGTERM when the demo process ends, however it ends
    (a SIGTERM to the demo stops Granian without running our `finally`)."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_emulator() -> EmulatorProcess:
    port = EMULATOR_PORT if _port_free(EMULATOR_PORT) else _free_port()
    print(f"==> starting the local Stripe emulator on 127.0.0.1:{port}", flush=True)
    return EmulatorProcess(port)


def seed(emulator_url: str, public_url: str) -> dict[str, str]:
    """Demo tenant + customers, created through the same services operators use."""
    from billstack import routes, stripe_gateway
    from billstack.db import session_scope
    from stripe_emulator.seed import seed_demo_customer
    from billstack.services import customers, sessions, webhooks

    print("==> seeding a demo tenant and customers", flush=True)
    with session_scope() as db:
        team, project, api_key, api_key_plaintext = create_demo_project(
            db, emulator_url=emulator_url, return_url=f"{public_url}/"
        )
        client = stripe_gateway.client_for(project)
        seeded = seed_demo_customer(client, email="jamie@example.com", name="Jamie Rivera")
        customer = customers.link_customer(db, project_id=project.id, stripe_customer_id=seeded["customer"])
        other = customers.create_customer(db, project_id=project.id, email="other@example.com", name="Other Customer")
        created = sessions.create_portal_session(
            db,
            team_id=team.id,
            project_id=project.id,
            api_key=api_key,
            customer_id=customer.id,
            ttl_ms=24 * 3600 * 1000,
        )
        # Last, so the seeding's own events are not delivered to a server that isn't up yet.
        endpoint = webhooks.register_endpoint(db, project.id, public_url + routes.stripe_webhook_path(project.id))
    return {
        "team": team.id,
        "project": project.id,
        "api_key": api_key_plaintext,
        "customer": customer.id,
        "other_customer": other.id,
        "portal_url": created.portal_url,
        "webhook_url": endpoint.url,
    }


def create_demo_project(
    db: Session, *, emulator_url: str, return_url: str, stripe_key: str | None = None, **options: object
) -> tuple[Team, Project, ApiKey, str]:
    """Team "Acme Inc." with the branded project "Acme Cloud" on a fresh emulator account
    (or `stripe_key`'s) and an API key, whose plaintext is returned once. Also used by the
    browser tests and the benchmarks, so all three seed the same tenant."""
    from devtools.emulator import new_account_key
    from billstack.services import tenants

    team = tenants.create_team(db, name="Acme Inc.")
    branding = {"display_name": "Acme Cloud", "accent_color": "#4f46e5", "support_email": "support@acme.example"}
    project = tenants.create_project(
        db,
        team_id=team.id,
        name="Acme Cloud",
        stripe_secret_key=stripe_key or new_account_key(),
        stripe_api_base=emulator_url,
        default_return_url=return_url,
        **(branding | options),
    )
    api_key, plaintext = tenants.create_api_key(db, project_id=project.id)
    return team, project, api_key, plaintext


def print_summary(summary: dict[str, str], public_url: str, emulator_url: str) -> None:
    curl = (
        f"curl -s -X POST {public_url}/api/billstack/teams/{summary['team']}/projects/{summary['project']}/portal \\\n"
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
