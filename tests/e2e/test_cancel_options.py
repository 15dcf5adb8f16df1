"""Cancellation as the project configures it, in a real Chromium, as a customer (issue 20): the
offered reasons and a comment landing in Stripe's cancellation_details, immediate mode with a
prorated credit, and the retention offer accepted (the coupon on the subscription, not offered
again) and declined (on to the cancel)."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from billstack.db import session_scope
from billstack.services import tenants
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, open_portal, stripe_client


def _set_project(tenant: Tenant, **options: object) -> None:
    with session_scope() as db:
        tenants.update_project(db, tenant.project_id, **options)


def _first_card(page: Page, live_db: LiveServer, tenant: Tenant) -> tuple[Locator, str, str]:
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    first = page.locator("[data-subscription-id]").first
    sub_id = str(first.get_attribute("data-subscription-id"))
    card = page.locator(f'[data-subscription-id="{sub_id}"]')  # by id: an ended one moves down the list
    return card, sub_id, card.get_by_role("heading", level=3).inner_text()


def test_cancel_with_an_offered_reason_and_a_comment(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    _set_project(tenant, cancel_reasons="too_expensive,switched_service,other")
    card, sub_id, product = _first_card(page, live_db, tenant)

    card.get_by_role("button", name=f"Cancel subscription – {product}").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("stays active until")
    expect(dialog.get_by_role("radio")).to_have_count(3)  # only the project's reasons
    dialog.get_by_role("radio", name="I switched to another service").check()
    dialog.get_by_label("Anything else you'd like us to know? (optional)").fill("Moved to the in-house tool")
    dialog.get_by_role("button", name="Cancel at period end").click()

    expect(page.get_by_role("status").filter(has_text=f"{product} will be canceled on")).to_be_visible()
    details = stripe_client(live_db, tenant).v1.subscriptions.retrieve(sub_id).cancellation_details
    assert (details.feedback, details.comment) == ("switched_service", "Moved to the in-house tool")


def test_no_reason_question_when_turned_off(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    _set_project(tenant, cancel_reasons="")
    card, _, product = _first_card(page, live_db, tenant)
    card.get_by_role("button", name=f"Cancel subscription – {product}").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog.get_by_label("Anything else you'd like us to know? (optional)")).to_be_visible()
    expect(dialog.get_by_role("radio")).to_have_count(0)
    expect(dialog.get_by_text("Why are you canceling? (optional)")).to_have_count(0)


def test_immediate_cancel_with_a_prorated_credit(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    _set_project(tenant, cancel_mode="immediately", cancel_proration="create_prorations")
    client = stripe_client(live_db, tenant)
    card, sub_id, product = _first_card(page, live_db, tenant)

    card.get_by_role("button", name=f"Cancel subscription – {product}").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Your subscription ends now. The unused time is credited to your account")
    expect(dialog.get_by_role("button", name="Cancel at period end")).to_have_count(0)
    dialog.get_by_role("button", name="Cancel now").click()

    expect(page.get_by_role("status").filter(has_text=f"{product} has been canceled.")).to_be_visible()
    expect(card.get_by_role("button", name=re.compile("^(Cancel|Resume) subscription"))).to_have_count(0)
    canceled = client.v1.subscriptions.retrieve(sub_id)
    assert canceled.status == "canceled"
    assert client.v1.customers.retrieve(tenant.stripe_customer_id).balance < 0  # the unused time, credited


def _with_retention_coupon(live_db: LiveServer, tenant: Tenant) -> str:
    coupon = stripe_client(live_db, tenant).v1.coupons.create(
        {"percent_off": 20, "duration": "repeating", "duration_in_months": 3})
    _set_project(tenant, retention_coupon=coupon.id)
    return coupon.id


def test_retention_offer_accepted_is_not_offered_again(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    coupon_id = _with_retention_coupon(live_db, tenant)
    client = stripe_client(live_db, tenant)
    card, sub_id, product = _first_card(page, live_db, tenant)

    card.get_by_role("button", name=f"Cancel subscription – {product}").click()
    offer = page.get_by_role("alertdialog")
    expect(offer).to_contain_text("Before you go…")
    expect(offer).to_contain_text(f"Here's an offer for {product}:")
    expect(offer).to_contain_text("20% off for 3 months")
    offer.get_by_role("button", name="Accept offer").click()

    expect(page.get_by_role("status").filter(has_text=f"The offer is applied to {product}. Thanks for staying!")
           ).to_be_visible()
    expect(offer).to_be_hidden()
    stripe_sub = client.v1.subscriptions.retrieve(sub_id, {"expand": ["discounts"]})
    assert [d.source.coupon for d in stripe_sub.discounts] == [coupon_id]
    assert stripe_sub.cancel_at_period_end is False and stripe_sub.status == "active"

    # The offer is made once: cancelling later goes straight to the confirm.
    card.get_by_role("button", name=f"Cancel subscription – {product}").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("stays active until")
    expect(dialog.get_by_role("button", name="Accept offer")).to_have_count(0)


def test_retention_offer_declined_goes_on_to_the_cancel(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    _with_retention_coupon(live_db, tenant)
    client = stripe_client(live_db, tenant)
    card, sub_id, product = _first_card(page, live_db, tenant)

    card.get_by_role("button", name=f"Cancel subscription – {product}").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("20% off for 3 months")
    dialog.get_by_role("button", name="No thanks, cancel").click()
    expect(dialog).to_contain_text("stays active until")
    dialog.get_by_role("radio", name="It's too expensive").check()
    dialog.get_by_role("button", name="Cancel at period end").click()

    expect(page.get_by_role("status").filter(has_text=f"{product} will be canceled on")).to_be_visible()
    stripe_sub = client.v1.subscriptions.retrieve(sub_id)
    assert stripe_sub.cancel_at_period_end is True and not stripe_sub.discounts
    assert stripe_sub.cancellation_details.feedback == "too_expensive"
