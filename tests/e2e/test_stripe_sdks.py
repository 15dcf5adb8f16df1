"""Stripe's own SDKs against `billstack serve` (issue 14): code written for Stripe's Customer
Portal creates BillStack portal sessions with only the API base and the key changed, the
session's `url` opens the customer's portal in Chromium, and the SDKs raise their own
error classes. Python: stripe-python (requirements.txt); Node: the npm `stripe` package
pinned in tools/package.json (installed by `make setup` with `npm ci`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import stripe
from playwright.sync_api import Page, expect

from billstack import routes
from stripe_emulator.seed import PLANS, seed_demo_customer
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import open_portal, seed_tenant, stripe_client

TOOLS = Path(__file__).resolve().parents[2] / "tools"
NODE_TIMEOUT_S = 60

# What a Node backend runs today against Stripe, with `host`/`port`/`protocol` pointed at
# BillStack: one session, then a bad key and an unknown customer, caught as Stripe's classes.
NODE_SCRIPT = r"""
const Stripe = require('stripe');
const { BILLSTACK_HOST, BILLSTACK_PORT, API_KEY, CUSTOMER } = process.env;
const sdk = (key) => new Stripe(key, { host: BILLSTACK_HOST, port: Number(BILLSTACK_PORT), protocol: 'http',
                                      maxNetworkRetries: 0 });
const caught = async (key, customer) => {
  try {
    await sdk(key).billingPortal.sessions.create({ customer });
    return null;
  } catch (e) {
    return { cls: e.constructor.name, type: e.type, statusCode: e.statusCode, code: e.code, param: e.param,
             auth: e instanceof Stripe.errors.StripeAuthenticationError,
             invalid: e instanceof Stripe.errors.StripeInvalidRequestError };
  }
};
(async () => {
  const session = await sdk(API_KEY).billingPortal.sessions.create({
    customer: CUSTOMER, return_url: 'https://app.example.com/account', locale: 'auto' });
  const badKey = await caught('bsk_not_a_key', CUSTOMER);
  const unknownCustomer = await caught(API_KEY, 'cus_unknowntostripe');
  console.log(JSON.stringify({ session, badKey, unknownCustomer }));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def python_sdk(live: LiveServer, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": live.url}, max_network_retries=0)


def test_stripe_python_session_url_opens_the_customers_portal(live_db: LiveServer, page: Page) -> None:
    tenant = seed_tenant(live_db.emulator_url)
    session = python_sdk(live_db, tenant.api_key).v1.billing_portal.sessions.create(
        {"customer": tenant.stripe_customer_id, "return_url": "https://app.example.com/account"})

    assert session.object == "billing_portal.session" and session.id.startswith("bps_")
    assert session.customer == tenant.stripe_customer_id
    assert session.url.startswith(f"{live_db.url}/portal/")
    open_portal(page, session.url)
    expect(page.get_by_text("jamie@example.com").first).to_be_visible()


def test_stripe_python_links_a_new_stripe_customer_and_its_portal_shows_everything(
    live_db: LiveServer, page: Page
) -> None:
    tenant = seed_tenant(live_db.emulator_url)
    newcomer = seed_demo_customer(stripe_client(live_db, tenant), email="nina@example.com", name="Nina Newcomer")

    session = python_sdk(live_db, tenant.api_key).v1.billing_portal.sessions.create({"customer": newcomer["customer"]})

    open_portal(page, session.url)
    expect(page.get_by_text("nina@example.com").first).to_be_visible()
    expect(page.get_by_text("jamie@example.com")).to_have_count(0)
    expect_subscriptions_of_the_demo_customer(page)


def test_a_session_by_external_id_opens_that_customers_subscriptions_at_once(live_db: LiveServer, page: Page) -> None:
    """A SaaS links its user's Stripe customer under its own id, then mints sessions by that id only."""
    tenant = seed_tenant(live_db.emulator_url)
    newcomer = seed_demo_customer(stripe_client(live_db, tenant), email="omar@example.com", name="Omar Newcomer")
    auth = {"Authorization": f"Bearer {tenant.api_key}"}
    linked = httpx.post(f"{live_db.url}{routes.customers_path(tenant.team_id, tenant.project_id)}", headers=auth,
                        json={"stripeCustomerId": newcomer["customer"], "externalId": "user-4711"}, timeout=30)
    assert linked.status_code == 201, linked.text

    created = httpx.post(f"{live_db.url}{routes.portal_sessions_path(tenant.team_id, tenant.project_id)}",
                         headers=auth, json={"externalId": "user-4711"}, timeout=30)

    assert created.status_code == 200, created.text
    open_portal(page, created.json()["portalUrl"])
    expect(page.get_by_text("omar@example.com").first).to_be_visible()
    expect_subscriptions_of_the_demo_customer(page)


def expect_subscriptions_of_the_demo_customer(page: Page) -> None:
    """Every subscription seed_demo_customer made is on the page, with no click and no reload."""
    for _lookup_key, product_name, _amount, _age in PLANS:
        expect(page.get_by_text(product_name).first).to_be_visible()


def test_stripe_python_raises_its_own_errors(live_db: LiveServer) -> None:
    tenant = seed_tenant(live_db.emulator_url)
    with pytest.raises(stripe.AuthenticationError):
        python_sdk(live_db, "bsk_not_a_key").v1.billing_portal.sessions.create({"customer": tenant.stripe_customer_id})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        python_sdk(live_db, tenant.api_key).v1.billing_portal.sessions.create({"customer": "cus_unknowntostripe"})
    assert (raised.value.code, raised.value.param) == ("resource_missing", "customer")


def test_stripe_node_sdk_creates_a_session_whose_url_opens_the_portal(live_db: LiveServer, page: Page) -> None:
    node = shutil.which("node")
    assert node, "node is required (Node.js 20+), as for the frontend build"
    assert (TOOLS / "node_modules" / "stripe" / "package.json").exists(), "run `make setup` (npm ci in tools/)"
    tenant = seed_tenant(live_db.emulator_url)
    address = urlsplit(live_db.url)
    env = {**os.environ, "BILLSTACK_HOST": "127.0.0.1", "BILLSTACK_PORT": str(address.port),
           "API_KEY": tenant.api_key, "CUSTOMER": tenant.stripe_customer_id}

    done = subprocess.run([node, "-e", NODE_SCRIPT], cwd=TOOLS, env=env, capture_output=True, text=True,
                          timeout=NODE_TIMEOUT_S, check=False)

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    session = out["session"]
    assert session["object"] == "billing_portal.session" and session["customer"] == tenant.stripe_customer_id
    assert out["badKey"] == {**out["badKey"], "cls": "StripeAuthenticationError", "auth": True, "statusCode": 401}
    assert out["unknownCustomer"] == {**out["unknownCustomer"], "cls": "StripeInvalidRequestError", "invalid": True,
                                      "statusCode": 400, "code": "resource_missing", "param": "customer"}
    open_portal(page, session["url"])
    expect(page.get_by_text("jamie@example.com").first).to_be_visible()
