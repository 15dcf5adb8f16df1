"""Live updates and Stripe outages, in Chromium against the real server and the emulator.

Changes are made directly in "Stripe" through the SDK, as a dashboard user or another
integration would. The emulator delivers the signed webhooks to the live server's
endpoint (registered like `billstack webhooks register` does); the open portal page
must show the result without a reload. The outage test turns the emulator account's
API into 500s: the page shows saved data with the notice, and a cancel fails cleanly.
"""

from __future__ import annotations

import re
from datetime import timedelta

import stripe
from playwright.sync_api import Page, expect

from billstack.clock import utcnow
from billstack.db import session_scope
from devtools.emulator import advance_time, stripe_down
from billstack.models import Customer
from billstack.services import webhooks
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, stripe_client, open_portal
from tests.portal_world import mirror_snapshot

# Webhook delivery, processing and the page's update: seconds, not the 30 s a first page load may take.
LIVE_TIMEOUT_MS = 15_000


def test_changes_made_in_stripe_reach_the_open_page_without_a_reload(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    port = live_db.url.rsplit(":", 1)[1]
    with session_scope() as db:  # what `billstack webhooks register` does, with the live server's URL
        webhooks.register_endpoint(db, tenant.project_id, f"http://127.0.0.1:{port}/api/billstack/webhooks/stripe/{tenant.project_id}")
    client = stripe_client(live_db, tenant)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    canceled = tenant.seeded["subscriptions"][0]  # the second one renews below

    client.v1.subscriptions.cancel(canceled)

    card = page.locator(f'[data-subscription-id="{canceled}"]')
    expect(card.get_by_text(re.compile(r"^Canceled on "))).to_be_visible(timeout=LIVE_TIMEOUT_MS)

    advance_time(live_db.emulator_url, tenant.stripe_key, 32 * 86400)  # the other one renews
    newest = client.v1.invoices.list({"customer": tenant.stripe_customer_id, "limit": 1}).data[0]
    assert newest.id not in tenant.seeded["invoices"] and newest.status == "paid"

    expect(page.get_by_role("link", name=f"Download PDF of invoice {newest.number}")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS
    )

    client.v1.payment_methods.detach(tenant.seeded["payment_method"])

    expect(page.get_by_text("No payment method on file.")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_text("Visa ending in 4242")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    # It came through the signed webhooks (the mirror was fresh: no refresh from Stripe was due).
    with session_scope() as db:
        status = webhooks.webhook_status(db, tenant.project_id)
    assert status.applied >= 3 and (status.failed, status.retrying) == (0, 0), status


def test_stripe_outage_shows_saved_data_and_a_cancel_fails_cleanly(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])  # the first visit fills the mirror
    sub_id = tenant.seeded["subscriptions"][0]
    with session_scope() as db:  # old enough that the next visit tries to refresh it from Stripe
        customer = db.get(Customer, tenant.customer_id)
        customer.synced_at = utcnow() - timedelta(hours=1)
        db.add(customer)
    before = mirror_snapshot(tenant.customer_id)
    with stripe_down(live_db.emulator_url, tenant.stripe_key):
        open_portal(page, session["portalUrl"])

        expect(page.get_by_text(re.compile(r"^Showing saved data"))).to_be_visible(timeout=30_000)
        card = page.locator(f'[data-subscription-id="{sub_id}"]')
        expect(card.get_by_text(re.compile(r"^Renews on "))).to_be_visible()
        expect(page.get_by_text("Visa ending in 4242")).to_be_visible()

        card.get_by_role("button", name=re.compile("^Cancel subscription")).click()
        page.get_by_role("alertdialog").get_by_role("button", name="Cancel at period end").click()

        dialog = page.get_by_role("alertdialog")
        expect(dialog.get_by_role("alert")).to_have_text(
            "The payment provider is unavailable right now. Nothing was changed; please try again in a moment.",
            timeout=30_000,
        )
        dialog.get_by_role("button", name="Keep subscription").click()
        expect(card.get_by_text(re.compile(r"^Renews on "))).to_be_visible()
        assert mirror_snapshot(tenant.customer_id) == before
    assert stripe_client(live_db, tenant).v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
