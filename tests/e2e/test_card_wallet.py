"""The card wallet and the next payment in a real Chromium, as a customer: the second card
made the default (for the customer and each subscription, in Stripe) and the first removed;
the default card of a live subscription refused with the reason; removal turned off; each
subscription's "Next payment" equal to Stripe's invoice preview; axe on the remove dialog.
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from billstack.clock import from_unix
from billstack.db import session_scope
from billstack.i18n import format_day, format_money
from billstack.services import tenants
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, open_portal, stripe_client
from tests.e2e.test_plan_changes import PHONE, tab_to
from tests.e2e.test_portal import assert_no_serious_axe_violations

VISA, MASTERCARD = "Visa ending in 4242", "Mastercard ending in 4444"


def add_second_card(live: LiveServer, tenant: Tenant) -> str:
    """A Mastercard beside the seeded default Visa; returns its id."""
    return stripe_client(live, tenant).v1.payment_methods.attach(
        "pm_card_mastercard", {"customer": tenant.stripe_customer_id}
    ).id


def card(page: Page, title: str) -> Locator:
    return page.locator(".card-item").filter(has_text=title)


def test_the_second_card_made_default_then_the_first_removed(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    second = add_second_card(live_db, tenant)
    first = client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    expect(card(page, VISA)).to_have_attribute("data-default", "true")
    expect(card(page, VISA).get_by_role("button", name=f"Make default – {VISA}")).to_have_count(0)
    expect(page.get_by_role("button", name="Add payment method")).to_be_visible()

    card(page, MASTERCARD).get_by_role("button", name=f"Make default – {MASTERCARD}").click()

    expect(card(page, MASTERCARD)).to_have_attribute("data-default", "true")
    expect(card(page, VISA)).to_have_attribute("data-default", "false")
    expect(page.get_by_role("status").filter(has_text=f"{MASTERCARD} is now your default")).to_be_visible()
    assert client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method == second
    for sub_id in tenant.seeded["subscriptions"]:  # each had the first card set: now the second
        assert client.v1.subscriptions.retrieve(sub_id).default_payment_method == second

    card(page, VISA).get_by_role("button", name=f"Remove – {VISA}").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text(f"{VISA} will be removed from your account")
    dialog.get_by_role("button", name="Remove card").click()
    expect(dialog).to_be_hidden()
    expect(card(page, VISA)).to_have_count(0)
    expect(card(page, MASTERCARD)).to_be_visible()
    assert client.v1.payment_methods.retrieve(first).customer is None  # detached in Stripe

    page.reload()
    expect(card(page, MASTERCARD)).to_have_attribute("data-default", "true", timeout=30_000)
    expect(card(page, VISA)).to_have_count(0)


def test_removing_the_default_card_of_a_live_subscription_is_refused_with_the_reason(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    client = stripe_client(live_db, tenant)
    add_second_card(live_db, tenant)
    default = client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])

    card(page, VISA).get_by_role("button", name=f"Remove – {VISA}").click()
    dialog = page.get_by_role("alertdialog")
    dialog.get_by_role("button", name="Remove card").click()

    expect(dialog.get_by_role("alert")).to_have_text(
        "This card pays for an active subscription. Choose another card as your default first, then remove this one."
    )
    assert_no_serious_axe_violations(page)
    dialog.get_by_role("button", name="Keep card").click()
    expect(card(page, VISA)).to_have_attribute("data-default", "true")
    assert client.v1.payment_methods.retrieve(default).customer == tenant.stripe_customer_id
    assert client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method == default


def test_no_remove_button_when_the_project_turned_removal_off(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    add_second_card(live_db, tenant)
    with session_scope() as db:
        tenants.update_project(db, tenant.project_id, feature_payment_method_remove=False)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    expect(card(page, MASTERCARD).get_by_role("button", name=f"Make default – {MASTERCARD}")).to_be_visible()
    expect(page.locator(".card-item").get_by_role("button", name=re.compile("^Remove"))).to_have_count(0)


def test_each_subscription_shows_the_next_payment_of_stripes_preview(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    client = stripe_client(live_db, tenant)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    for sub_id in tenant.seeded["subscriptions"]:
        preview = client.v1.invoices.create_preview({"customer": tenant.stripe_customer_id, "subscription": sub_id})
        when = from_unix(preview.next_payment_attempt or preview.period_end)
        expected = f"Next payment: {format_money(preview.amount_due, preview.currency, 'en')} on {format_day(when, 'en')}"
        expect(page.locator(f'[data-subscription-id="{sub_id}"] .next-payment')).to_have_text(expected)


def test_the_wallet_by_keyboard_at_375_px(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    second = add_second_card(live_db, tenant)
    page.set_viewport_size(PHONE)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    tab_to(page, card(page, MASTERCARD).get_by_role("button", name=f"Make default – {MASTERCARD}"), presses=120)
    page.keyboard.press("Enter")
    expect(card(page, MASTERCARD)).to_have_attribute("data-default", "true")
    assert client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method == second
    tab_to(page, card(page, VISA).get_by_role("button", name=f"Remove – {VISA}"), presses=120)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    assert_no_serious_axe_violations(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no horizontal scrolling"
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(card(page, VISA)).to_be_visible()
