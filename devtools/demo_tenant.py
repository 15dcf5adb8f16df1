"""The demo tenant: team "Acme Inc.", the branded project "Acme Cloud" on an emulator
account, an API key and two customers, built through the same services operators use.

`billstack demo` seeds it (`seed_demo_tenant`); the browser tests and the benchmarks make
the same project with `create_demo_project`, so all three see the same tenant.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from billstack import routes, stripe_gateway
from billstack.db import session_scope
from billstack.models import ApiKey, Project, Team
from billstack.routes import returned_from_portal_url
from billstack.services import customers, sessions, tenants, webhooks
from devtools.emulator import new_account_key
from stripe_emulator.seed import seed_demo_customer

DEMO_BRANDING = {"display_name": "Acme Cloud", "accent_color": "#4f46e5", "support_email": "support@acme.example"}
DEMO_SESSION_TTL_MS = 24 * 3600 * 1000  # the printed portal link works for a day


def create_demo_project(
    db: Session, *, emulator_url: str, return_url: str, stripe_key: str | None = None, **options: Any
) -> tuple[Team, Project, ApiKey, str]:
    """Team "Acme Inc." with the branded project "Acme Cloud" on a fresh emulator account
    (or `stripe_key`'s) and an API key, whose plaintext is returned once."""
    team = tenants.create_team(db, name="Acme Inc.")
    project = tenants.create_project(
        db,
        team_id=team.id,
        name="Acme Cloud",
        stripe_secret_key=stripe_key or new_account_key(),
        stripe_api_base=emulator_url,
        default_return_url=return_url,
        **(DEMO_BRANDING | options),
    )
    api_key, plaintext = tenants.create_api_key(db, project_id=project.id)
    return team, project, api_key, plaintext


def seed_demo_tenant(emulator_url: str, public_url: str) -> dict[str, str]:
    """The demo project plus a realistic customer (two subscriptions, a year of invoices, an
    open invoice, a card), a second customer, a day-long portal session for the first and
    the project's webhook endpoint; returns the ids, the API key and the portal URL."""
    with session_scope() as db:
        # "Return to Acme Cloud" lands on a page that says what it stands for (the home page, marked).
        team, project, api_key, api_key_plaintext = create_demo_project(
            db, emulator_url=emulator_url, return_url=returned_from_portal_url(public_url)
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
            ttl_ms=DEMO_SESSION_TTL_MS,
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
