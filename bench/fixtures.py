"""Tenants for the benchmarks, made with the same services operators and the demo use.

The bench process writes straight into the server's database (SQLite in WAL mode, or
PostgreSQL), so `use_database` points BillStack's settings at it first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import SECRET_KEY
from bench.servers import UNLIMITED_RATE
from billstack import routes


@contextmanager
def use_database(db_url: str, data_dir: Path) -> Iterator[None]:
    """BillStack code in this process talks to `db_url` (with the servers' secret key)."""
    from billstack.config import reset_settings
    from billstack.migrate import upgrade

    saved = {k: v for k, v in os.environ.items() if k.startswith("BILLSTACK_")}
    for name in saved:
        del os.environ[name]
    os.environ.update(
        BILLSTACK_DATABASE_URL=db_url,
        BILLSTACK_DATA_DIR=str(data_dir),
        BILLSTACK_SECRET_KEY=SECRET_KEY,
        BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE=UNLIMITED_RATE,
        BILLSTACK_LOG_LEVEL="WARNING",
    )
    reset_settings()
    try:
        upgrade(db_url)
        yield
    finally:
        # Close pooled connections: SQLite refuses some changes (e.g. of journal mode) while
        # another connection is open, and a PostgreSQL database with clients cannot be dropped.
        from billstack.db import engine_for

        engine_for(db_url).dispose()
        for name in [k for k in os.environ if k.startswith("BILLSTACK_")]:
            del os.environ[name]
        os.environ.update(saved)
        reset_settings()


@dataclass(frozen=True)
class Tenant:
    team_id: str
    project_id: str
    api_key: str
    customer_ids: list[str]
    # For tenants on the emulator: each customer's Stripe subscription ids, in order.
    subscriptions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def session_path(self) -> str:
        return routes.portal_sessions_path(self.team_id, self.project_id)


def api_tenant(customers: int) -> Tenant:
    """A project, an API key and `customers` customer rows; no Stripe needed (session API only)."""
    from billstack.db import session_scope
    from devtools.emulator import new_account_key
    from billstack.ids import new_id
    from billstack.models import Customer
    from billstack.services import tenants

    with session_scope() as db:
        team = tenants.create_team(db, name="Bench Inc.")
        project = tenants.create_project(
            db, team_id=team.id, name="Bench", stripe_secret_key=new_account_key()
        )
        _, api_key = tenants.create_api_key(db, project_id=project.id)
        ids = [new_id("pc") for _ in range(customers)]
        for index, customer_id in enumerate(ids):
            db.add(
                Customer(
                    id=customer_id,
                    project_id=project.id,
                    stripe_customer_id=f"cus_bench{index:06d}",
                    email=f"bench{index}@example.com",
                )
            )
    return Tenant(team.id, project.id, api_key, ids)


def emulator_tenant(emulator_url: str, customers: int) -> Tenant:
    """A project on the emulator with `customers` demo customers (two subscriptions, a
    year of invoices, a card each), linked and synced so the portal reads a fresh mirror."""
    from billstack import stripe_gateway
    from billstack.db import session_scope
    from devtools.demo_tenant import create_demo_project
    from stripe_emulator.seed import seed_demo_customer
    from billstack.services import customers as customer_service
    from billstack.services.sync import sync_customer

    with session_scope() as db:
        team, project, _, api_key = create_demo_project(
            db, emulator_url=emulator_url, return_url="https://app.example.com/account"
        )
    client = stripe_gateway.client_for(project)
    ids: list[str] = []
    subscriptions: dict[str, list[str]] = {}
    for index in range(customers):
        seeded = seed_demo_customer(client, email=f"customer{index}@example.com", name=f"Customer {index}")
        with session_scope() as db:
            customer = customer_service.link_customer(
                db, project_id=project.id, stripe_customer_id=seeded["customer"]
            )
            sync_customer(db, project, customer)
        ids.append(customer.id)
        subscriptions[customer.id] = list(seeded["subscriptions"])
    return Tenant(team.id, project.id, api_key, ids, subscriptions)


def mint_session(client: httpx.Client, base_url: str, tenant: Tenant, customer_id: str) -> dict:
    """A portal session made the way a SaaS backend makes one: the session API over HTTP."""
    response = client.post(
        base_url + tenant.session_path,
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        json={"customerId": customer_id, "ttlMs": 3_600_000},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()
