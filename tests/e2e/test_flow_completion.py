"""Deep-link flows end as the session's `afterCompletion` says (issue 20, part 6), in a real
Chromium: inside a flow only its subject is shown; cancelling the subscription then shows
the hosted confirmation with the tenant's message (as text), goes back to the app
(`redirect`), or shows the whole portal (`portal_homepage`); leaving the flow ("Keep
subscription") goes back to the app."""

from __future__ import annotations

import re

import stripe
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, enable_plan_changes, new_portal_session, stripe_client

APP = "https://app.example.com"  # the tenant's return origin (seeding.py); the test serves its pages
APP_PAGE = "<!doctype html><title>Back in the app</title><h1>Back in the app</h1>"


def _serve_the_app(page: Page) -> list[str]:
    """The SaaS's pages, served by the test: the URLs the browser came back to."""
    seen: list[str] = []

    def fulfil(route: Route) -> None:
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body=APP_PAGE)

    page.route(f"{APP}/**", fulfil)
    return seen


def _subscriptions(live: LiveServer, tenant: Tenant) -> list[stripe.Subscription]:
    subs = stripe_client(live, tenant).v1.subscriptions.list({"customer": tenant.stripe_customer_id}).data
    assert len(subs) > 1, "the seeded customer has several subscriptions; a flow shows one"
    return subs


def _open_cancel_flow(page: Page, live: LiveServer, tenant: Tenant, after: dict) -> stripe.Subscription:
    sub = _subscriptions(live, tenant)[-1]
    session = new_portal_session(live.url, tenant, flow={"type": "subscription_cancel", "subscriptionId": sub.id,
                                                         "afterCompletion": after})
    page.goto(session["portalUrl"])
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible(timeout=30_000)
    return sub


def _confirm_cancel(page: Page) -> None:
    page.get_by_role("alertdialog").get_by_role("button", name="Cancel at period end").click()


def test_a_flow_shows_its_subject_alone_then_the_confirmation_with_the_message(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    message = "Sorry to see you go! <b>Reply</b> to this\nand we'll help."
    sub = _open_cancel_flow(page, live_db, tenant, {"type": "hosted_confirmation", "customMessage": message})

    # Inside the flow: the one subscription, nothing else of the portal (not even out of sight).
    cards = page.locator("[data-subscription-id]")
    expect(cards).to_have_count(1)
    expect(cards).to_have_attribute("data-subscription-id", sub.id)
    html = page.content()
    for other in _subscriptions(live_db, tenant)[:-1]:
        assert other.id not in html
    for hidden in ("Invoices", "Payment method", "Billing information"):
        expect(page.get_by_role("heading", name=hidden)).to_have_count(0)
    expect(page.get_by_text("Visa ending in 4242")).to_have_count(0)

    _confirm_cancel(page)

    expect(page.get_by_role("heading", name="All done", level=1)).to_be_visible(timeout=30_000)
    shown = page.locator(".flow-message")
    expect(shown).to_have_text(message)  # the tenant's text as text: its tags are not markup
    expect(shown.locator("b")).to_have_count(0)
    expect(page.get_by_role("link", name="Return to Acme Cloud")).to_have_attribute("href", f"{APP}/account")
    expect(page.locator("[data-subscription-id]")).to_have_count(0)
    assert stripe_client(live_db, tenant).v1.subscriptions.retrieve(sub.id).cancel_at_period_end is True


def test_a_confirmation_without_a_message_says_the_generic_words(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    _open_cancel_flow(page, live_db, tenant, {"type": "hosted_confirmation"})
    _confirm_cancel(page)
    expect(page.get_by_role("heading", name="All done", level=1)).to_be_visible(timeout=30_000)
    expect(page.locator(".flow-message")).to_have_text("Your changes have been saved.")


def test_redirect_lands_on_the_return_url_after_the_action(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    seen = _serve_the_app(page)
    target = f"{APP}/account?cancelled=1"
    sub = _open_cancel_flow(page, live_db, tenant, {"type": "redirect", "returnUrl": target})

    _confirm_cancel(page)

    expect(page).to_have_url(target, timeout=30_000)
    expect(page.get_by_role("heading", name="Back in the app")).to_be_visible()
    assert seen == [target]
    assert stripe_client(live_db, tenant).v1.subscriptions.retrieve(sub.id).cancel_at_period_end is True


def test_portal_homepage_shows_the_whole_portal_after_the_action(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    sub = _open_cancel_flow(page, live_db, tenant, {"type": "portal_homepage"})
    expect(page.get_by_role("heading", name="Invoices")).to_have_count(0)

    _confirm_cancel(page)

    expect(page.get_by_role("heading", name="Invoices")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-subscription-id]")).to_have_count(len(_subscriptions(live_db, tenant)))
    card = page.locator(f'[data-subscription-id="{sub.id}"]')
    expect(card.get_by_text(re.compile(r"^Cancels on "))).to_be_visible()
    expect(page.get_by_text("Visa ending in 4242")).to_be_visible()


def test_keeping_the_subscription_leaves_the_flow_for_the_app(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    seen = _serve_the_app(page)
    sub = _open_cancel_flow(page, live_db, tenant, {"type": "hosted_confirmation", "customMessage": "Bye"})

    page.get_by_role("alertdialog").get_by_role("button", name="Keep subscription").click()

    expect(page).to_have_url(f"{APP}/account", timeout=30_000)  # the session's return URL: no dead end
    assert seen == [f"{APP}/account"]
    assert stripe_client(live_db, tenant).v1.subscriptions.retrieve(sub.id).cancel_at_period_end is False


# --- the other flow types: a plan change, a card through Checkout ---------------------------


def test_a_confirmed_plan_change_ends_on_the_confirmation(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    plans = enable_plan_changes(live_db, tenant)
    sub_id = tenant.seeded["subscriptions"][0]  # Team plan
    flow = {"type": "subscription_update_confirm", "subscriptionId": sub_id, "priceId": plans["business"],
            "afterCompletion": {"type": "hosted_confirmation", "customMessage": "Enjoy Business."}}
    page.goto(new_portal_session(live_db.url, tenant, flow=flow)["portalUrl"])
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Confirm your new plan")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-subscription-id]")).to_have_count(1)

    dialog.get_by_role("button", name="Confirm change").click()

    expect(page.get_by_role("heading", name="All done", level=1)).to_be_visible(timeout=30_000)
    expect(page.locator(".flow-message")).to_have_text("Enjoy Business.")
    item = stripe_client(live_db, tenant).v1.subscriptions.retrieve(sub_id)["items"].data[0]
    assert item.price.id == plans["business"]


def test_closing_a_plan_flow_without_a_change_goes_back_to_the_app(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    enable_plan_changes(live_db, tenant)
    seen = _serve_the_app(page)
    sub_id = tenant.seeded["subscriptions"][0]
    page.goto(new_portal_session(live_db.url, tenant, flow={"type": "subscription_update", "subscriptionId": sub_id})[
        "portalUrl"])
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Choose a plan")).to_be_visible(timeout=30_000)

    page.keyboard.press("Escape")

    expect(page).to_have_url(f"{APP}/account", timeout=30_000)
    assert seen == [f"{APP}/account"]


def test_a_payment_method_flow_shows_the_cards_alone_and_redirects_after_checkout(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    seen = _serve_the_app(page)
    target = f"{APP}/account?card=updated"
    flow = {"type": "payment_method_update", "afterCompletion": {"type": "redirect", "returnUrl": target}}
    page.goto(new_portal_session(live_db.url, tenant, flow=flow)["portalUrl"])
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Add a payment method")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-subscription-id]")).to_have_count(0)
    expect(page.get_by_role("heading", name="Invoices")).to_have_count(0)
    expect(page.get_by_text("Visa ending in 4242")).to_be_attached()  # the flow's subject: the cards

    dialog.get_by_role("button", name="Continue to secure checkout").click()
    page.wait_for_url(re.compile(r"/checkout|/c/"), timeout=30_000)
    page.get_by_label("Card number").fill("5555 5555 5555 4444")
    page.get_by_label("Expiry").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name=re.compile("save|add|submit|confirm", re.I)).click()

    expect(page).to_have_url(target, timeout=30_000)
    assert seen == [target]
    default = stripe_client(live_db, tenant).v1.customers.retrieve(
        tenant.stripe_customer_id).invoice_settings.default_payment_method
    assert stripe_client(live_db, tenant).v1.payment_methods.retrieve(default).card.last4 == "4444"
