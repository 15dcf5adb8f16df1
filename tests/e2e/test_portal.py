"""The customer portal in a real Chromium, acting as a customer: roles, labels, visible text."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import stripe
from playwright.sync_api import Page, expect

from billstack.clock import utcnow
from billstack.db import session_scope
from billstack.services import sessions, tenants
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, browser_cookies, new_portal_session, stripe_client, open_portal

AXE_JS = Path(__file__).resolve().parents[2] / "tools" / "node_modules" / "axe-core" / "axe.min.js"


def product_names(client: stripe.StripeClient, stripe_customer_id: str) -> list[str]:
    subs = client.v1.subscriptions.list({"customer": stripe_customer_id, "expand": ["data.items.data.price.product"]})
    return [item.price.product.name for sub in subs.data for item in sub["items"].data]


def test_portal_shows_the_customers_own_data_and_nothing_else(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    mine = product_names(client, tenant.stripe_customer_id)
    session = new_portal_session(live_db.url, tenant)

    open_portal(page, session["portalUrl"])

    expect(page.get_by_role("heading", name="Acme Cloud", level=1)).to_be_visible()
    for name in mine:
        expect(page.get_by_role("heading", name=name, level=3)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Renews on "))).to_have_count(len(mine))
    expect(page.get_by_role("heading", name="Invoices")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Download PDF of invoice "))).to_have_count(10)
    expect(page.get_by_role("button", name="Show more")).to_be_visible()
    expect(page.get_by_text("Visa ending in 4242")).to_be_visible()
    expect(page.get_by_text("Default", exact=True)).to_be_visible()
    body = page.locator("body").inner_text()
    assert "other@example.com" not in body
    for invoice in client.v1.invoices.list({"customer": tenant.other_stripe_customer_id, "limit": 100}).data:
        assert invoice.number not in body


def test_cancel_at_period_end_then_resume_survives_reload(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])
    first = page.locator("[data-subscription-id]").first
    sub_id = first.get_attribute("data-subscription-id")
    product = first.get_by_role("heading", level=3).inner_text()

    first.get_by_role("button", name=re.compile("^Cancel subscription")).click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("stays active until")
    dialog.get_by_role("radio", name="It's too expensive").check()
    dialog.get_by_role("button", name="Cancel at period end").click()

    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    expect(card.get_by_text(re.compile(r"^Cancels on "))).to_be_visible()
    expect(page.get_by_role("status").filter(has_text=f"{product} will be canceled on")).to_be_visible()
    in_stripe = client.v1.subscriptions.retrieve(sub_id)
    assert in_stripe.cancel_at_period_end is True
    assert in_stripe.cancellation_details.feedback == "too_expensive"

    page.reload()
    expect(card.get_by_text(re.compile(r"^Cancels on "))).to_be_visible(timeout=30_000)
    card.get_by_role("button", name=re.compile("^Resume subscription")).click()
    expect(card.get_by_text(re.compile(r"^Renews on "))).to_be_visible()
    assert client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False


def test_download_pdf_is_a_real_pdf_and_pay_opens_the_hosted_page(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])

    pdf_href = page.get_by_role("link", name=re.compile(r"^Download PDF of invoice ")).first.get_attribute("href")
    assert httpx.get(pdf_href, follow_redirects=True).content.startswith(b"%PDF")

    pay = page.get_by_role("link", name=re.compile(r"^Pay invoice "))
    expect(pay).to_have_count(1)  # the seed has exactly one open invoice
    with page.context.expect_page() as new_tab:
        pay.click()
    hosted = new_tab.value
    hosted.wait_for_load_state()
    assert hosted.url.startswith(live_db.emulator_url)
    expect(hosted.get_by_text(re.compile("invoice", re.I)).first).to_be_visible()


def _checkout(page: Page, card_number: str) -> None:
    page.get_by_role("button", name="Add payment method").click()
    page.get_by_role("dialog").get_by_role("button", name="Continue to secure checkout").click()
    page.wait_for_url(re.compile(r"/checkout|/c/"), timeout=30_000)
    page.get_by_label("Card number").fill(card_number)
    page.get_by_label("Expiry").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name=re.compile("save|add|submit|confirm", re.I)).click()


def test_update_payment_method_through_checkout(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    before = client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])
    cards = page.locator(".card-item")
    expect(cards).to_have_count(1)  # the seeded Visa •••• 4242

    # The same test card as the seeded one: only a new payment method id tells them apart.
    _checkout(page, "4242 4242 4242 4242")

    expect(page.get_by_role("status").filter(has_text="Visa ending in 4242 is now your default")).to_be_visible(
        timeout=30_000
    )
    expect(cards).to_have_count(2)
    expect(page.locator('[data-default="true"]')).to_have_count(1)
    after = client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method
    assert after and after != before
    assert client.v1.payment_methods.retrieve(after).card.last4 == "4242"
    for sub in client.v1.subscriptions.list({"customer": tenant.stripe_customer_id}).data:
        assert sub.default_payment_method == after
    # A reload of the success URL does not repeat or undo anything.
    page.reload()
    expect(cards).to_have_count(2, timeout=30_000)
    assert client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method == after


def test_a_mastercard_shows_as_the_new_default(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])
    _checkout(page, "5555 5555 5555 4444")
    expect(page.locator('[data-default="true"]')).to_contain_text("Mastercard ending in 4444", timeout=30_000)


def test_declined_card_and_cancel_change_nothing(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    before = client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method
    cards_before = len(client.v1.payment_methods.list({"customer": tenant.stripe_customer_id, "type": "card"}).data)
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])

    _checkout(page, "4000 0000 0000 0002")
    expect(page.get_by_text("Your card was declined.")).to_be_visible()
    page.get_by_role("link", name=re.compile("cancel|back", re.I)).first.click()

    expect(page.get_by_role("status").filter(has_text="No changes were made to your payment method.")).to_be_visible(
        timeout=30_000
    )
    assert client.v1.customers.retrieve(tenant.stripe_customer_id).invoice_settings.default_payment_method == before
    cards_after = client.v1.payment_methods.list({"customer": tenant.stripe_customer_id, "type": "card"}).data
    assert len(cards_after) == cards_before


def _expired_token(tenant: Tenant) -> str:
    with session_scope() as db:
        created = sessions.create_portal_session(
            db,
            team_id=tenant.team_id,
            project_id=tenant.project_id,
            api_key=None,
            customer_id=tenant.customer_id,
            ttl_ms=60_000,
            now=utcnow() - timedelta(hours=2),
        )
    return created.token


def test_expired_revoked_and_garbage_links_show_the_right_page(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    page.goto(f"{live_db.url}/portal/{_expired_token(tenant)}")
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible(timeout=30_000)
    # Branded (issue 13): the way back names the app it returns to.
    expect(page.get_by_role("link", name="Return to Acme Cloud")).to_have_attribute("href", "https://app.example.com/account")
    assert "jamie@example.com" not in page.content()

    revoked = new_portal_session(live_db.url, tenant)
    deleted = httpx.delete(
        f"{live_db.url}/api/billstack/teams/{tenant.team_id}/projects/{tenant.project_id}/portal/{revoked['sessionId']}",
        headers={"Authorization": f"Bearer {tenant.api_key}"},
    )
    assert deleted.status_code in (200, 204)
    page.goto(revoked["portalUrl"])
    expect(page.get_by_role("heading", name="This link is no longer valid")).to_be_visible(timeout=30_000)

    page.goto(f"{live_db.url}/portal/not-a-token")
    expect(page.get_by_role("heading", name="This link isn't valid")).to_be_visible(timeout=30_000)
    assert "Traceback" not in page.content()


def test_portal_api_hides_other_customers_subscriptions(live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    theirs = client.v1.subscriptions.list({"customer": tenant.other_stripe_customer_id}).data[0].id
    token = new_portal_session(live_db.url, tenant)["token"]
    response = httpx.patch(
        f"{live_db.url}/api/portal/{token}/subscriptions/{theirs}", json={"cancelAtPeriodEnd": True}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
    assert client.v1.subscriptions.retrieve(theirs).cancel_at_period_end is False


def test_feature_toggles_hide_the_ui_and_the_api_refuses(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    with session_scope() as db:
        tenants.update_project(db, tenant.project_id, feature_cancel=False, feature_invoice_history=False)
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])
    expect(page.get_by_text(re.compile(r"^Renews on ")).first).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Cancel subscription"))).to_have_count(0)
    expect(page.get_by_role("heading", name="Invoices")).to_have_count(0)

    sub_id = page.locator("[data-subscription-id]").first.get_attribute("data-subscription-id")
    refused = httpx.patch(f"{live_db.url}/api/portal/{session['token']}/subscriptions/{sub_id}",
                          json={"cancelAtPeriodEnd": True}, headers=browser_cookies(page))
    assert refused.status_code == 403


def test_deep_link_opens_the_cancel_dialog(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    sub = client.v1.subscriptions.list({"customer": tenant.stripe_customer_id}).data[0]
    session = new_portal_session(live_db.url, tenant, flow={"type": "subscription_cancel", "subscriptionId": sub.id})
    page.goto(session["portalUrl"])
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible(timeout=30_000)
    expect(dialog).to_contain_text("stays active until")


def test_german_locale_translates_text_and_formats_money(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    session = new_portal_session(live_db.url, tenant, locale="de")
    page.goto(session["portalUrl"])
    expect(page.get_by_role("heading", name="Abonnements")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name="Rechnungen")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Verlängert sich am \d\d\.\d\d\.\d{4}$")).first).to_be_visible()
    # German money: decimal comma and the symbol after the amount, e.g. "29,00 $ pro Monat".
    expect(page.get_by_text(re.compile(r"\d+,\d\d\s[$€£] pro (Monat|Jahr)")).first).to_be_visible()
    expect(page.get_by_role("button", name="Zahlungsmethode hinzufügen")).to_be_visible()
    expect(page.get_by_role("heading", name="Rechnungsinformationen")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Nächste Zahlung: \d+,\d\d\s\$ am \d\d\.\d\d\.\d{4}$")).first).to_be_visible()


def assert_no_serious_axe_violations(page: Page) -> None:
    """axe-core (the npm package's axe.min.js) finds nothing serious or critical.

    A dialog fades in: measured mid-animation its colours are blended with the page
    behind and fail contrast, so the check waits for every running animation first."""
    page.evaluate("() => Promise.all(document.getAnimations().map(a => a.finished))")
    # From the page's own origin (answered here): the page's CSP refuses an inline script.
    page.route("**/__test-axe.min.js", lambda route: route.fulfill(path=str(AXE_JS), content_type="text/javascript"),
               times=1)
    page.add_script_tag(url="/__test-axe.min.js")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    details = [(v["id"], [(n["html"][:160], n.get("failureSummary", "")[:240]) for n in v["nodes"]]) for v in serious]
    assert serious == [], json.dumps(details, indent=1)


def test_accessibility_and_screenshots(page: Page, live_db: LiveServer, tenant: Tenant, artifacts_dir: Path) -> None:
    session = new_portal_session(live_db.url, tenant)
    page.set_viewport_size({"width": 1280, "height": 900})
    open_portal(page, session["portalUrl"])
    assert_no_serious_axe_violations(page)
    page.screenshot(path=str(artifacts_dir / "portal-desktop.png"), full_page=True)

    page.get_by_role("button", name=re.compile("^Cancel subscription")).first.click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    assert_no_serious_axe_violations(page)
    page.keyboard.press("Escape")

    page.get_by_role("button", name="Add payment method").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    assert_no_serious_axe_violations(page)
    page.keyboard.press("Escape")

    page.set_viewport_size({"width": 375, "height": 812})
    expect(page.get_by_role("button", name="Add payment method")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "no horizontal scrolling at 375 px"
    page.screenshot(path=str(artifacts_dir / "portal-375.png"), full_page=True)


def test_keyboard_alone_can_cancel(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])
    cancel = page.get_by_role("button", name=re.compile("^Cancel subscription")).first
    for _ in range(40):
        page.keyboard.press("Tab")
        if cancel.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Cancel subscription is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alertdialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("alertdialog")).to_have_count(0)


def test_dark_color_scheme_is_honoured(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    page.emulate_media(color_scheme="dark")
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])
    background = page.evaluate("getComputedStyle(document.querySelector('.radix-themes')).backgroundColor")
    channels = [int(c) for c in re.findall(r"\d+", background)[:3]]
    assert sum(channels) / 3 < 80, f"dark scheme should give a dark background, got {background}"


def test_page_renders_the_mirror_and_refreshes_an_old_one_live(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    from billstack.models import Customer

    client = stripe_client(live_db, tenant)
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])
    sub_id = page.locator("[data-subscription-id]").first.get_attribute("data-subscription-id")
    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    # A change made in Stripe directly (dashboard, another integration)…
    client.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})

    # …is not on a fresh mirror: the page renders from BillStack's database.
    page.reload()
    expect(card.get_by_text(re.compile(r"^Renews on "))).to_be_visible(timeout=30_000)

    # Once the mirror is older than BILLSTACK_SYNC_MAX_AGE, the page refreshes it in the
    # background and updates itself: no second reload.
    with session_scope() as db:
        customer = db.get(Customer, tenant.customer_id)
        customer.synced_at = utcnow() - timedelta(hours=1)
        db.add(customer)
    page.reload()
    expect(card.get_by_text(re.compile(r"^Cancels on "))).to_be_visible(timeout=30_000)
