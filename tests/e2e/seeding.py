"""Seed tenants for browser tests through the same services operators and the demo use."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import stripe
from playwright.sync_api import Page, expect

from billstack import stripe_gateway
from billstack.db import session_scope
from stripe_emulator.seed import seed_demo_customer
from devtools.emulator import new_account_key
from devtools.demo_tenant import create_demo_plans, create_demo_project, enable_demo_plan_changes
from billstack.services import customers, tenants
from tests.live_server import LiveServer


@dataclass(frozen=True)
class Tenant:
    team_id: str
    project_id: str
    api_key: str
    stripe_key: str
    customer_id: str
    stripe_customer_id: str
    seeded: dict
    other_customer_id: str
    other_stripe_customer_id: str


def seed_tenant(emulator_url: str, *, return_url: str = "https://app.example.com/account", **project_options) -> Tenant:
    stripe_key = new_account_key()
    with session_scope() as db:
        team, project, _, api_key = create_demo_project(
            db, emulator_url=emulator_url, return_url=return_url, stripe_key=stripe_key, **project_options
        )
        client = stripe_gateway.client_for(project)
        seeded = seed_demo_customer(client, email="jamie@example.com", name="Jamie Rivera")
        customer = customers.link_customer(db, project_id=project.id, stripe_customer_id=seeded["customer"])
        other_seeded = seed_demo_customer(client, email="other@example.com", name="Olivia Other")
        other = customers.link_customer(db, project_id=project.id, stripe_customer_id=other_seeded["customer"])
    return Tenant(
        team_id=team.id,
        project_id=project.id,
        api_key=api_key,
        stripe_key=stripe_key,
        customer_id=customer.id,
        stripe_customer_id=seeded["customer"],
        seeded=seeded,
        other_customer_id=other.id,
        other_stripe_customer_id=other_seeded["customer"],
    )


def new_portal_session(base_url: str, tenant: Tenant, customer_id: str | None = None, **body) -> dict:
    """Mint a session exactly as a SaaS backend does: the spec's request over HTTP."""
    response = httpx.post(
        f"{base_url}/api/billstack/teams/{tenant.team_id}/projects/{tenant.project_id}/portal",
        headers={"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"},
        json={"customerId": customer_id or tenant.customer_id, **body},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def stripe_client(live: LiveServer, tenant: Tenant) -> stripe.StripeClient:
    """The tenant's emulator account through the real Stripe SDK."""
    return stripe.StripeClient(tenant.stripe_key, base_addresses={"api": live.emulator_url}, max_network_retries=0)


def browser_cookies(page: Page) -> dict[str, str]:
    """Headers that send the page's cookies: the portal link it opened is bound to its browser
    (issue 18), so the portal API accepts that token only with them."""
    return {"Cookie": "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies(page.url))}


def open_portal(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible(timeout=30_000)


def enable_plan_changes(live: LiveServer, tenant: Tenant, **settings) -> dict[str, str]:
    """The demo's plan catalogue (Starter, Team, Business, Team yearly, Priority support) and
    plan-change settings on the tenant's project, overridden by `settings`; returns the price
    ids by name."""
    plans = create_demo_plans(stripe_client(live, tenant), tenant.seeded)
    with session_scope() as db:
        enable_demo_plan_changes(db, tenants.get_project(db, tenant.project_id), list(plans.values()), **settings)
    return plans
