"""Plan changes in a real Chromium, as a customer: the picker, the confirmation with Stripe's
preview, the change billed exactly as previewed, a downgrade waiting for the period end and
kept away again, the two deep links, a declined upgrade, keyboard/375 px/axe, and a change
made in Stripe directly reaching the open page.

The project gets the demo's catalogue (devtools/demo_tenant.py: Starter $19, Team $49 — the
customer's —, Business $99 monthly, Team yearly $490, Priority support) and settings
(quantities 1–50, `decreasing_item_amount` at the period end) through the operator's services.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from billstack.i18n import format_day, format_money
from billstack.clock import from_unix
from billstack.db import session_scope
from billstack.services import webhooks
from devtools.emulator import advance_time
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, browser_cookies, enable_plan_changes, new_portal_session, open_portal, stripe_client
from tests.e2e.test_portal import assert_no_serious_axe_violations

PHONE = {"width": 375, "height": 812}
# Webhook delivery, processing and the page's update: seconds, not a first page load's 30.
LIVE_TIMEOUT_MS = 15_000


def cents(text: str) -> int:
    """"-$6.00" → -600 (the page's en-US money)."""
    value = Decimal(re.sub(r"[^\d.\-]", "", text))
    return int(value * 100)


def team_subscription(tenant: Tenant) -> str:
    return tenant.seeded["subscriptions"][0]  # the seed's first: Team plan, $49 a month


def preview_api(live: LiveServer, page: Page, token: str, sub_id: str, price_id: str, **body: Any) -> dict:
    """The API's preview for the link `page` opened (bound to its browser: its cookies go along)."""
    response = httpx.post(
        f"{live.url}/api/portal/{token}/subscriptions/{sub_id}/preview", json={"priceId": price_id, **body}, timeout=30,
        headers=browser_cookies(page),
    )
    assert response.status_code == 200, response.text
    return response.json()


def open_picker(page: Page, sub_id: str, product: str) -> Locator:
    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    card.get_by_role("button", name=f"Update plan – {product}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Choose a plan")).to_be_visible()
    expect(dialog.get_by_role("radio").first).to_be_visible()
    return dialog


def plan_radio(dialog: Locator, product: str) -> Locator:
    return dialog.get_by_role("radio", name=re.compile(f"^{re.escape(product)}"))


def shown_preview(dialog: Locator) -> tuple[int, list[int]]:
    due = dialog.locator(".preview-due").inner_text().split("\n")[-1]
    lines = [text.split("\n")[-1] for text in dialog.locator(".preview-line").all_inner_texts()]
    return cents(due), [cents(line) for line in lines]


def test_upgrade_through_the_picker_bills_exactly_the_preview_and_survives_reload(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    plans = enable_plan_changes(live_db, tenant, proration_behavior="always_invoice")
    client = stripe_client(live_db, tenant)
    sub_id = team_subscription(tenant)
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])
    dialog = open_picker(page, sub_id, "Team plan")

    # Monthly plans first (the current plan's period), the current one marked; yearly behind the switch.
    expect(plan_radio(dialog, "Team plan")).to_contain_text("Current plan")
    expect(plan_radio(dialog, "Team plan")).to_contain_text("$49.00 per month")
    expect(dialog.get_by_text("$490.00 per year")).to_have_count(0)
    dialog.get_by_role("radio", name="Yearly").click()
    expect(dialog.get_by_text("$490.00 per year")).to_be_visible()
    dialog.get_by_role("radio", name="Monthly").click()
    expect(dialog.get_by_role("button", name="Continue")).to_be_disabled()  # the current plan, same quantity
    plan_radio(dialog, "Business").click()

    before = preview_api(live_db, page, session["token"], sub_id, plans["business"])
    dialog.get_by_role("button", name="Continue").click()
    expect(dialog.get_by_role("heading", name="Confirm your new plan")).to_be_visible()
    after = preview_api(live_db, page, session["token"], sub_id, plans["business"])

    # What the page shows is Stripe's preview (taken between the two API previews: per-second
    # prorations may have moved by a cent in between, never more).
    due, lines = shown_preview(dialog)
    previews = [(p["amountDue"], [line["amount"] for line in p["lines"]]) for p in (before, after)]
    assert (due, lines) in previews, previews
    assert due > 0 and len(lines) == 2 and lines[0] < 0 < lines[1]
    expect(dialog.locator(".preview-line").first).to_contain_text("Unused time on Team plan")
    expect(dialog.locator(".preview-line").last).to_contain_text("Business from today")
    next_date = format_day(from_unix(client.v1.subscriptions.retrieve(sub_id)["items"].data[0].current_period_end), "en")
    expect(dialog.locator(".preview-next")).to_have_text(f"Then $99.00 per month from {next_date}")

    dialog.get_by_role("button", name="Confirm change").click()

    expect(page.get_by_role("dialog")).to_have_count(0)
    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    expect(card.get_by_role("heading", name="Business", level=3)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Your subscription is now Business.")).to_be_visible()
    in_stripe = client.v1.subscriptions.retrieve(sub_id)
    assert in_stripe["items"].data[0].price.id == plans["business"]
    invoice = client.v1.invoices.retrieve(in_stripe.latest_invoice)
    assert (invoice.status, invoice.amount_paid) == ("paid", due), "charged exactly the preview shown"

    page.reload()
    expect(card.get_by_role("heading", name="Business", level=3)).to_be_visible(timeout=30_000)


def test_a_downgrade_waits_for_the_period_end_and_keep_current_plan_undoes_it(
    page: Page, live_db: LiveServer, tenant: Tenant, artifacts_dir: Path
) -> None:
    plans = enable_plan_changes(live_db, tenant)  # decreasing_item_amount waits for the period end
    client = stripe_client(live_db, tenant)
    sub_id = team_subscription(tenant)
    period_end = format_day(from_unix(client.v1.subscriptions.retrieve(sub_id)["items"].data[0].current_period_end), "en")
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    dialog = open_picker(page, sub_id, "Team plan")
    plan_radio(dialog, "Starter").click()
    dialog.get_by_role("button", name="Continue").click()

    expect(dialog.locator(".preview-scheduled")).to_have_text(f"Changes to Starter on {period_end}; nothing is charged today.")
    expect(dialog.locator(".preview-due")).to_contain_text("$0.00")
    dialog.get_by_role("button", name="Confirm change").click()

    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    expect(card.get_by_text(f"Changes to Starter on {period_end}")).to_be_visible()
    expect(card.get_by_role("heading", name="Team plan", level=3)).to_be_visible()  # until then
    expect(card.get_by_role("button", name=re.compile("^Update plan"))).to_have_count(0)
    card.screenshot(path=str(artifacts_dir / "plan-scheduled-card.png"))
    in_stripe = client.v1.subscriptions.retrieve(sub_id)
    assert in_stripe.schedule and in_stripe["items"].data[0].price.id != plans["starter"]

    card.get_by_role("button", name="Keep current plan – Team plan").click()

    expect(card.get_by_text(re.compile("^Changes to"))).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="You're staying on Team plan")).to_be_visible()
    expect(card.get_by_role("button", name="Update plan – Team plan")).to_be_visible()
    assert client.v1.subscriptions.retrieve(sub_id).schedule is None
    page.reload()
    expect(card.get_by_role("button", name="Update plan – Team plan")).to_be_visible(timeout=30_000)
    expect(card.get_by_text(re.compile("^Changes to"))).to_have_count(0)


def test_deep_link_subscription_update_opens_the_picker(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    enable_plan_changes(live_db, tenant)
    sub_id = team_subscription(tenant)
    session = new_portal_session(live_db.url, tenant, flow={"type": "subscription_update", "subscriptionId": sub_id})
    page.goto(session["portalUrl"])
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Choose a plan")).to_be_visible(timeout=30_000)
    expect(dialog).to_contain_text("Current plan: Team plan")
    expect(plan_radio(dialog, "Business")).to_be_visible()


def test_deep_link_subscription_update_confirm_opens_the_confirmation(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    plans = enable_plan_changes(live_db, tenant)
    sub_id = team_subscription(tenant)
    flow = {"type": "subscription_update_confirm", "subscriptionId": sub_id, "priceId": plans["business"], "quantity": 2}
    session = new_portal_session(live_db.url, tenant, flow=flow)
    page.goto(session["portalUrl"])
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Confirm your new plan")).to_be_visible(timeout=30_000)
    expect(dialog.locator(".preview-plan")).to_have_text("Business · Qty 2")
    expect(dialog.locator(".preview-due")).to_contain_text("Due today")
    dialog.get_by_role("button", name="Back").click()
    expect(dialog.get_by_role("heading", name="Choose a plan")).to_be_visible()
    expect(plan_radio(dialog, "Business")).to_be_checked()
    expect(dialog.locator(".plan-quantity-value")).to_have_text("2")


def test_a_declined_upgrade_says_why_in_the_dialog_and_changes_nothing(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    plans = enable_plan_changes(live_db, tenant, proration_behavior="always_invoice")
    client = stripe_client(live_db, tenant)
    sub_id = team_subscription(tenant)
    failing = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": tenant.stripe_customer_id})
    client.v1.subscriptions.update(sub_id, {"default_payment_method": failing.id})
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    dialog = open_picker(page, sub_id, "Team plan")
    plan_radio(dialog, "Business").click()
    dialog.get_by_role("button", name="Continue").click()
    dialog.get_by_role("button", name="Confirm change").click()

    expect(dialog.get_by_role("alert")).to_have_text("Your card was declined.", timeout=30_000)
    expect(dialog.get_by_role("button", name="Confirm change")).to_be_enabled()
    dialog.get_by_role("button", name="Back").click()
    page.keyboard.press("Escape")
    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    expect(card.get_by_role("heading", name="Team plan", level=3)).to_be_visible()
    assert client.v1.subscriptions.retrieve(sub_id)["items"].data[0].price.id != plans["business"]


def test_keyboard_alone_at_375_px_with_axe_on_the_picker_and_the_confirmation(
    page: Page, live_db: LiveServer, tenant: Tenant, artifacts_dir: Path
) -> None:
    enable_plan_changes(live_db, tenant)
    sub_id = team_subscription(tenant)
    page.set_viewport_size(PHONE)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    update = page.locator(f'[data-subscription-id="{sub_id}"]').get_by_role("button", name="Update plan – Team plan")
    tab_to(page, update)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(plan_radio(dialog, "Business")).to_be_visible()
    assert_no_serious_axe_violations(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no horizontal scrolling"
    page.screenshot(path=str(artifacts_dir / "plan-picker-375.png"))

    tab_to(page, plan_radio(dialog, "Team plan"))  # the selected (current) plan holds the group's tab stop
    page.keyboard.press("ArrowDown")  # Team → Business (arrows move within the group) …
    expect(plan_radio(dialog, "Business")).to_be_focused()
    page.keyboard.press("Space")  # … and Space chooses the focused plan (the arrow may have already)
    expect(plan_radio(dialog, "Business")).to_be_checked()
    tab_to(page, dialog.get_by_role("button", name="Increase quantity"))
    page.keyboard.press("Enter")
    expect(dialog.locator(".plan-quantity-value")).to_have_text("2")
    tab_to(page, dialog.get_by_role("button", name="Continue"))
    page.keyboard.press("Enter")
    expect(dialog.locator(".preview-plan")).to_have_text("Business · Qty 2")
    assert_no_serious_axe_violations(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no horizontal scrolling"
    page.screenshot(path=str(artifacts_dir / "plan-confirm-375.png"))

    tab_to(page, dialog.get_by_role("button", name="Confirm change"))
    page.keyboard.press("Enter")
    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    expect(card.get_by_role("heading", name="Business", level=3)).to_be_visible()
    expect(card).to_contain_text("Qty 2")


def register_webhooks(live: LiveServer, tenant: Tenant) -> None:
    """What `billstack webhooks register` does, with the live server's URL."""
    port = live.url.rsplit(":", 1)[1]
    with session_scope() as db:
        webhooks.register_endpoint(db, tenant.project_id, f"http://127.0.0.1:{port}/api/billstack/webhooks/stripe/{tenant.project_id}")


def test_a_plan_changed_in_stripe_reaches_the_open_page(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    plans = enable_plan_changes(live_db, tenant)
    register_webhooks(live_db, tenant)
    client = stripe_client(live_db, tenant)
    sub_id = team_subscription(tenant)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    item = client.v1.subscriptions.retrieve(sub_id)["items"].data[0]

    client.v1.subscriptions.update(
        sub_id, {"items": [{"id": item.id, "price": plans["business"]}], "proration_behavior": "none"}
    )

    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    expect(card.get_by_role("heading", name="Business", level=3)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(card).to_contain_text(format_money(9900, "usd", "en") + " per month")
    assert page.evaluate("window.__sameDocument") is True


def test_a_waiting_downgrade_applies_at_the_period_end_on_the_open_page(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    plans = enable_plan_changes(live_db, tenant)
    register_webhooks(live_db, tenant)
    client = stripe_client(live_db, tenant)
    sub_id = team_subscription(tenant)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    dialog = open_picker(page, sub_id, "Team plan")
    plan_radio(dialog, "Starter").click()
    dialog.get_by_role("button", name="Continue").click()
    dialog.get_by_role("button", name="Confirm change").click()
    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    expect(card.get_by_text(re.compile("^Changes to Starter on "))).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    advance_time(live_db.emulator_url, tenant.stripe_key, 32 * 86400)  # past the period end: the schedule applies

    expect(card.get_by_role("heading", name="Starter", level=3)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(card.get_by_text(re.compile("^Changes to"))).to_have_count(0)
    expect(card).to_contain_text("$19.00 per month")
    assert page.evaluate("window.__sameDocument") is True
    assert client.v1.subscriptions.retrieve(sub_id)["items"].data[0].price.id == plans["starter"]


def test_the_picker_speaks_german_with_german_money(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    enable_plan_changes(live_db, tenant)
    sub_id = team_subscription(tenant)
    page.goto(new_portal_session(live_db.url, tenant, locale="de")["portalUrl"])
    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    card.get_by_role("button", name="Tarif ändern – Team plan").click(timeout=30_000)
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Tarif wählen")).to_be_visible()
    expect(plan_radio(dialog, "Business")).to_contain_text("99,00\xa0$ pro Monat")
    expect(dialog.get_by_role("radio", name="Jährlich")).to_be_visible()
    expect(dialog.get_by_role("button", name="Menge erhöhen")).to_be_visible()
    plan_radio(dialog, "Business").click()
    dialog.get_by_role("button", name="Weiter").click()
    expect(dialog.get_by_role("heading", name="Neuen Tarif bestätigen")).to_be_visible()
    expect(dialog.locator(".preview-due")).to_contain_text("Heute fällig")
    expect(dialog.locator(".preview-line").first).to_contain_text("Nicht genutzte Zeit für Team plan")


def tab_to(page: Page, target: Locator, presses: int = 60) -> None:
    """Press Tab until `target` has the focus (keyboard alone, as a customer would)."""
    for _ in range(presses):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    pytest.fail("not reachable with Tab")
