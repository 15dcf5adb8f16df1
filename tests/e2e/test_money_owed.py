"""Money owed, as a customer sees it (issue 13, item 4): an amount-due banner at the top for
open invoices, with a Pay button big enough to tap, also when the invoice list is off; the
invoice rows say what each invoice is for, when an open one is due, and link paid ones'
receipts. In Chromium against the real server and the emulator's seeded customer (one open
$150.00 "Onboarding workshop" invoice, due in 30 days, and paid subscription invoices)."""

from __future__ import annotations

import re
from pathlib import Path

import stripe
from playwright.sync_api import Locator, Page, expect

from billstack.db import session_scope
from billstack.services import tenants, webhooks
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, stripe_client, open_portal
from tests.e2e.test_portal import assert_no_serious_axe_violations

TOUCH_PX = 44


def banner(page: Page, name: str = "Payment due") -> Locator:
    return page.get_by_role("region", name=name)


def assert_tall_enough(target: Locator) -> None:
    box = target.bounding_box()
    assert box is not None and box["height"] >= TOUCH_PX, box


def test_open_invoice_shows_the_amount_due_banner_above_everything_with_a_pay_button(
    page: Page, live_db: LiveServer, tenant: Tenant, artifacts_dir: Path
) -> None:
    hosted = stripe_client(live_db, tenant).v1.invoices.retrieve(tenant.seeded["open_invoice"]).hosted_invoice_url
    page.set_viewport_size({"width": 1280, "height": 900})
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])

    due = banner(page)
    expect(due).to_be_visible()
    expect(due.get_by_text("$150.00", exact=True)).to_be_visible()
    expect(due.get_by_text("Onboarding workshop")).to_be_visible()
    expect(due.get_by_text(re.compile(r"^Due [A-Z][a-z]{2} \d{1,2}, \d{4}$"))).to_be_visible()
    pay = due.get_by_role("link", name="Pay $150.00")
    expect(pay).to_have_attribute("href", hosted)
    assert_tall_enough(pay)
    # At the top: above the subscriptions, where it cannot be missed.
    subscriptions = page.get_by_role("heading", name="Subscriptions").bounding_box()
    assert due.bounding_box()["y"] < subscriptions["y"]
    assert_no_serious_axe_violations(page)
    page.screenshot(path=str(artifacts_dir / "amount-due-desktop.png"))

    page.set_viewport_size({"width": 375, "height": 812})
    assert_tall_enough(pay)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "no horizontal scrolling at 375 px"
    page.screenshot(path=str(artifacts_dir / "amount-due-375.png"))

    with page.context.expect_page() as new_tab:
        pay.click()
    paying = new_tab.value
    paying.wait_for_load_state()
    assert paying.url == hosted


def test_the_banner_shows_with_invoice_history_off(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    with session_scope() as db:
        tenants.update_project(db, tenant.project_id, feature_invoice_history=False)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])

    expect(page.get_by_role("heading", name="Invoices")).to_have_count(0)
    expect(banner(page).get_by_role("link", name="Pay $150.00")).to_be_visible()
    assert_no_serious_axe_violations(page)


def test_the_banner_speaks_the_customers_language(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    page.goto(new_portal_session(live_db.url, tenant, locale="fr")["portalUrl"])
    due = banner(page, "Paiement dû")
    expect(due).to_be_visible(timeout=30_000)
    expect(due.get_by_role("link", name=re.compile(r"^Payer 150,00\s\$US$"))).to_be_visible()
    expect(due.get_by_text(re.compile(r"^À régler avant le \d{1,2} [a-zéû.]+ \d{4}$"))).to_be_visible()


def test_invoice_rows_show_what_they_are_for_when_due_and_a_receipt(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    client = stripe_client(live_db, tenant)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])

    open_row = page.locator(f'.invoice-row[data-invoice-id="{tenant.seeded["open_invoice"]}"]')
    expect(open_row.get_by_text("Onboarding workshop")).to_be_visible()
    expect(open_row.get_by_text(re.compile(r"^Due [A-Z][a-z]{2} \d{1,2}, \d{4}$"))).to_be_visible()
    expect(open_row.get_by_role("link", name=re.compile(r"^View receipt"))).to_have_count(0)

    paid = next(
        inv for inv in client.v1.invoices.list({"customer": tenant.stripe_customer_id, "limit": 100}).data
        if inv.status == "paid"
    )
    paid_row = page.locator(f'.invoice-row[data-invoice-id="{paid.id}"]')
    receipt = paid_row.get_by_role("link", name=f"View receipt for invoice {paid.number}")
    expect(receipt).to_have_attribute("href", paid.hosted_invoice_url)
    expect(receipt).to_have_text("View")
    expect(paid_row.get_by_role("link", name=re.compile(r"^Pay "))).to_have_count(0)
    expect(paid_row.get_by_text(re.compile(r"^(Due|Overdue) "))).to_have_count(0)


def test_the_banner_goes_once_the_invoice_is_paid_without_a_reload(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    port = live_db.url.rsplit(":", 1)[1]
    with session_scope() as db:  # what `billstack webhooks register` does, with the live server's URL
        webhooks.register_endpoint(db, tenant.project_id, f"http://127.0.0.1:{port}/api/billstack/webhooks/stripe/{tenant.project_id}")
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    expect(banner(page).get_by_role("link", name="Pay $150.00")).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    stripe_client(live_db, tenant).v1.invoices.pay(tenant.seeded["open_invoice"], {"paid_out_of_band": True})

    expect(banner(page)).to_have_count(0, timeout=15_000)
    open_row = page.locator(f'.invoice-row[data-invoice-id="{tenant.seeded["open_invoice"]}"]')
    expect(open_row.get_by_text("Paid", exact=True)).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True
