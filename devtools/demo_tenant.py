"""The demo tenant: team "Acme Inc.", the branded project "Acme Cloud" on an emulator
account, an API key and two customers, built through the same services operators use.
Plan changes are on, with a small catalogue around the demo customer's plans (a cheaper
and a dearer plan and a yearly variant), quantities 1–50 and downgrades at the period end.

`billstack demo` seeds it (`seed_demo_tenant`); the browser tests and the benchmarks make
the same project with `create_demo_project`, so all three see the same tenant.
"""

from __future__ import annotations

from typing import Any

import stripe
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
# What `project update` would set: plan changes with quantities, a cheaper plan at the period end.
DEMO_PLAN_CHANGE_SETTINGS = {
    "feature_plan_change": True,
    "feature_quantity_change": True,
    "quantity_min": 1,
    "quantity_max": 50,
    "schedule_at_period_end": "decreasing_item_amount",
}


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


def create_demo_plans(client: stripe.StripeClient, seeded: dict[str, Any]) -> dict[str, str]:
    """The plans a demo customer may switch between, by name, in display order: Starter
    (cheaper), the customer's Team plan, Business (dearer), Team yearly, and the customer's
    Priority support, so each of its subscriptions finds its own plan in the list."""
    team, support = (_subscription_price(client, sub_id) for sub_id in seeded["subscriptions"])
    starter = _monthly_plan(client, "Starter", "For one person getting started.", 1900)
    business = _monthly_plan(client, "Business", "For growing teams: single sign-on and audit logs.", 9900)
    team_yearly = client.v1.prices.create(
        {"product": team.product, "currency": "usd", "unit_amount": 49000,
         "recurring": {"interval": "year"}, "nickname": "Team plan (yearly)"}
    )
    return {"starter": starter.id, "team": team.id, "business": business.id,
            "team_yearly": team_yearly.id, "support": support.id}


def enable_demo_plan_changes(db: Session, project: Project, price_ids: list[str], **settings: Any) -> Project:
    """Plan changes on, as an operator turns them on: the prices (checked with Stripe), then the rest."""
    return tenants.update_project(
        db, project.id, **{tenants.PLAN_CHANGE_PRICES: price_ids, **DEMO_PLAN_CHANGE_SETTINGS, **settings}
    )


# The demo customer's billing details: an address in Berlin, a German VAT id (all zeros:
# verified in test mode, as in Stripe), and a second card beside the default Visa.
DEMO_ADDRESS = {"line1": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}
DEMO_VAT_ID = "DE000000000"
DEMO_SECOND_CARD = "pm_card_mastercard"


def add_demo_billing_details(client: stripe.StripeClient, stripe_customer_id: str) -> dict[str, str]:
    """What a customer of a few years has on file; returns the VAT id's and the second card's ids."""
    client.v1.customers.update(stripe_customer_id, {"address": DEMO_ADDRESS, "phone": "+49 30 1234567"})
    tax_id = client.v1.customers.tax_ids.create(stripe_customer_id, {"type": "eu_vat", "value": DEMO_VAT_ID})
    card = client.v1.payment_methods.attach(DEMO_SECOND_CARD, {"customer": stripe_customer_id})
    return {"tax_id": tax_id.id, "second_card": card.id}


def _subscription_price(client: stripe.StripeClient, subscription_id: str) -> stripe.Price:
    return client.v1.subscriptions.retrieve(subscription_id)["items"].data[0].price


def _monthly_plan(client: stripe.StripeClient, name: str, description: str, amount: int) -> stripe.Price:
    product = client.v1.products.create({"name": name, "description": description})
    return client.v1.prices.create(
        {"product": product.id, "currency": "usd", "unit_amount": amount, "recurring": {"interval": "month"}}
    )


def seed_demo_tenant(emulator_url: str, public_url: str) -> dict[str, str]:
    """The demo project plus a realistic customer (two subscriptions, a year of invoices, an
    open invoice, two cards, an address and a VAT id), a second customer, a day-long portal
    session for the first and the project's webhook endpoint; returns the ids, the API key
    and the portal URL."""
    with session_scope() as db:
        # "Return to Acme Cloud" lands on a page that says what it stands for (the home page, marked).
        team, project, api_key, api_key_plaintext = create_demo_project(
            db, emulator_url=emulator_url, return_url=returned_from_portal_url(public_url)
        )
        client = stripe_gateway.client_for(project)
        seeded = seed_demo_customer(client, email="jamie@example.com", name="Jamie Rivera")
        customer = customers.link_customer(db, project_id=project.id, stripe_customer_id=seeded["customer"])
        enable_demo_plan_changes(db, project, list(create_demo_plans(client, seeded).values()))
        add_demo_billing_details(client, seeded["customer"])
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
