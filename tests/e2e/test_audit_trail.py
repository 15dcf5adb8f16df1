"""The audit trail in a real Chromium (issue 18): after each portal action a customer takes in
the browser, `billstack audit list --json` — run as an operator runs it, a separate process on
the live server's database — shows the matching event: action, outcome, the Stripe object it
touched, and the browser's own user agent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Page, expect

from billstack.services import audit
from tests.conftest import TEST_SECRET_KEY
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, enable_plan_changes, new_portal_session, open_portal, stripe_client
from tests.e2e.test_billing_details import choose_country, details_section, open_form
from tests.e2e.test_card_wallet import MASTERCARD, VISA, add_second_card, card
from tests.e2e.test_plan_changes import open_picker, plan_radio, team_subscription

REPO = Path(__file__).resolve().parents[2]


def audit_list(live: LiveServer, tenant: Tenant, *args: str) -> list[dict]:
    """`python -m billstack audit list --project P --json` against the live server's database."""
    env = {**os.environ, "BILLSTACK_DATABASE_URL": live.db_url, "BILLSTACK_SECRET_KEY": TEST_SECRET_KEY}
    done = subprocess.run(
        [sys.executable, "-m", "billstack", "audit", "list", "--project", tenant.project_id, "--limit", "100",
         *args, "--json"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    listed = json.loads(done.stdout)
    assert listed["object"] == "list" and not listed["hasMore"]
    return listed["data"]


class Trail:
    """What the operator sees after each step; each step must add exactly its one event."""

    def __init__(self, page: Page, live: LiveServer, tenant: Tenant) -> None:
        self.live, self.tenant = live, tenant
        self.user_agent = page.evaluate("navigator.userAgent")
        self.seen = self._portal_events()
        assert self.seen == []

    def _portal_events(self) -> list[dict]:
        return [e for e in audit_list(self.live, self.tenant) if e["action"] in audit.PORTAL_ACTIONS]

    def expect(self, action: str, stripe_object_id: str | re.Pattern[str], outcome: str = "ok") -> dict:
        events = self._portal_events()
        new = events[: len(events) - len(self.seen)]  # newest first
        assert len(new) == 1, f"expected one new {action} event, got {new}"
        [event] = new
        assert (event["action"], event["outcome"]) == (action, outcome), event
        if isinstance(stripe_object_id, re.Pattern):
            assert stripe_object_id.fullmatch(event["stripeObjectId"] or ""), event
        else:
            assert event["stripeObjectId"] == stripe_object_id, event
        assert event["userAgent"] == self.user_agent and event["clientIp"], event
        assert (event["projectId"], event["customerId"]) == (self.tenant.project_id, self.tenant.customer_id)
        assert event["sessionId"] and event["createdAt"].endswith("Z")
        self.seen = events
        return event


def test_cancel_resume_and_plan_changes_are_each_in_the_audit_list(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    enable_plan_changes(live_db, tenant)  # a cheaper plan waits for the period end
    sub_id = team_subscription(tenant)
    session = new_portal_session(live_db.url, tenant, ttlMs=3_600_000)
    open_portal(page, session["portalUrl"])
    trail = Trail(page, live_db, tenant)
    subscription = page.locator(f'[data-subscription-id="{sub_id}"]')

    subscription.get_by_role("button", name=re.compile("^Cancel subscription")).click()
    page.get_by_role("alertdialog").get_by_role("button", name="Cancel at period end").click()
    expect(subscription.get_by_text(re.compile(r"^Cancels on "))).to_be_visible()
    trail.expect("subscription.cancel_scheduled", sub_id)

    subscription.get_by_role("button", name=re.compile("^Resume subscription")).click()
    expect(subscription.get_by_text(re.compile(r"^Renews on "))).to_be_visible()
    trail.expect("subscription.resumed", sub_id)

    dialog = open_picker(page, sub_id, "Team plan")
    plan_radio(dialog, "Business").click()
    dialog.get_by_role("button", name="Continue").click()
    dialog.get_by_role("button", name="Confirm change").click()
    expect(page.get_by_role("status").filter(has_text="Your subscription is now Business.")).to_be_visible()
    trail.expect("subscription.plan_changed", sub_id)

    dialog = open_picker(page, sub_id, "Business")
    plan_radio(dialog, "Starter").click()
    dialog.get_by_role("button", name="Continue").click()
    dialog.get_by_role("button", name="Confirm change").click()
    expect(subscription.get_by_text(re.compile("^Changes to Starter on"))).to_be_visible()
    trail.expect("subscription.plan_change_scheduled", sub_id)

    subscription.get_by_role("button", name="Keep current plan – Business").click()
    expect(subscription.get_by_text(re.compile("^Changes to"))).to_have_count(0)
    trail.expect("subscription.scheduled_change_dropped", sub_id)

    # The session itself is on the trail too, made by the SaaS backend (not the browser).
    [created] = audit_list(live_db, tenant, "--action", "portal_session.created", "--customer", tenant.customer_id)
    assert created["sessionId"] == session["sessionId"] and created["userAgent"] != trail.user_agent


def test_card_wallet_actions_are_each_in_the_audit_list(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    second = add_second_card(live_db, tenant)
    first = client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    trail = Trail(page, live_db, tenant)

    card(page, MASTERCARD).get_by_role("button", name=f"Make default – {MASTERCARD}").click()
    expect(card(page, MASTERCARD)).to_have_attribute("data-default", "true")
    trail.expect("payment_method.default_changed", second)

    card(page, VISA).get_by_role("button", name=f"Remove – {VISA}").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Remove card").click()
    expect(card(page, VISA)).to_have_count(0)
    trail.expect("payment_method.removed", first)

    page.get_by_role("button", name="Add payment method").click()
    page.get_by_role("dialog").get_by_role("button", name="Continue to secure checkout").click()
    page.wait_for_url(re.compile(r"/checkout|/c/"), timeout=30_000)
    checkout = trail.expect("payment_method.checkout_started", re.compile(r"cs_\w+"))["stripeObjectId"]
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name=re.compile("save|add|submit|confirm", re.I)).click()
    expect(page.get_by_role("status").filter(has_text="Visa ending in 4242 is now your default")).to_be_visible(
        timeout=30_000)
    added = client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method
    event = trail.expect("payment_method.added", added)
    assert event["detail"]["checkout_session"] == checkout  # the Checkout that came back


def test_billing_details_and_tax_ids_are_each_in_the_audit_list(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    client = stripe_client(live_db, tenant)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    trail = Trail(page, live_db, tenant)

    form = open_form(page)
    form.get_by_label("Address line 1").fill("12 Rue de Rivoli")
    form.get_by_label("Postal code").fill("75001")
    form.get_by_label("City").fill("Paris")
    choose_country(page, form, "France")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Your billing information was saved.")).to_be_visible()
    trail.expect("customer.details_updated", tenant.stripe_customer_id)

    section = details_section(page)
    section.get_by_role("button", name="Add tax ID").click()
    tax_form = section.get_by_role("form", name="Add tax ID")
    tax_form.get_by_label("Number").fill("DE12")  # Stripe refuses it: a failed event, naming the customer
    tax_form.get_by_role("button", name="Add", exact=True).click()
    expect(tax_form.locator("#taxid-value-error")).to_be_visible()
    trail.expect("customer.tax_id_added", tenant.stripe_customer_id, outcome="failed")

    tax_form.get_by_label("Number").fill("DE123456789")
    tax_form.get_by_role("button", name="Add", exact=True).click()
    row = section.locator(".tax-id-item").filter(has_text="DE123456789")
    expect(row).to_be_visible()
    [tax_id] = [t.id for t in client.v1.customers.tax_ids.list(tenant.stripe_customer_id).data]
    trail.expect("customer.tax_id_added", tax_id)

    row.get_by_role("button", name="Remove EU VAT DE123456789").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Remove tax ID").click()
    expect(section.get_by_text("No tax ID on file.")).to_be_visible()
    trail.expect("customer.tax_id_removed", tax_id)
