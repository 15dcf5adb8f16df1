"""Pause payments and promotion codes in a real Chromium, as a customer (issue 20): pause with
a resume day, the card saying "Paused until …" and Stripe's pause_collection set, then resume;
a promotion code accepted (the card's discount and the next payment reduced) and a bad one
refused with Stripe's message under the field."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from billstack.i18n import format_day
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, open_portal, seed_tenant, stripe_client


@pytest.fixture
def tenant(live_db: LiveServer) -> Tenant:
    """The demo customer on a project that lets customers pause and enter promotion codes."""
    return seed_tenant(live_db.emulator_url, feature_pause=True, feature_promotion_code=True)


def _team_card(page: Page, tenant: Tenant) -> Locator:
    return page.locator(f'[data-subscription-id="{tenant.seeded["subscriptions"][0]}"]')


def test_pause_until_a_day_then_resume(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    sub_id = tenant.seeded["subscriptions"][0]
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    card = _team_card(page, tenant)
    product = card.get_by_role("heading", level=3).inner_text()
    resume_day = datetime.now(UTC).date() + timedelta(days=20)

    card.get_by_role("button", name=f"Pause payments – {product}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Pause payments for {product}?")
    dialog.get_by_label("Resume automatically on (optional)").fill(resume_day.isoformat())
    dialog.get_by_role("button", name="Pause payments").click()

    shown_day = format_day(datetime(resume_day.year, resume_day.month, resume_day.day, tzinfo=UTC), "en")
    expect(dialog).to_be_hidden()
    expect(card.get_by_text(f"Paused until {shown_day}")).to_be_visible()
    expect(card.get_by_text("Paused", exact=True)).to_be_visible()  # the status badge
    expect(page.get_by_role("status").filter(has_text=f"Payments for {product} are paused until {shown_day}.")
           ).to_be_visible()
    pause = client.v1.subscriptions.retrieve(sub_id).pause_collection
    assert (pause.behavior, pause.resumes_at) == ("void", calendar.timegm(resume_day.timetuple()))

    page.reload()
    expect(card.get_by_text(f"Paused until {shown_day}")).to_be_visible(timeout=30_000)
    card.get_by_role("button", name=f"Resume payments – {product}").click()

    expect(page.get_by_role("status").filter(has_text=f"Payments for {product} have resumed.")).to_be_visible()
    expect(card.get_by_text(re.compile("^Paused until"))).to_have_count(0)
    expect(card.get_by_role("button", name=f"Pause payments – {product}")).to_be_visible()
    assert client.v1.subscriptions.retrieve(sub_id).pause_collection is None


def test_a_past_resume_day_is_refused_in_the_dialog(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    card = _team_card(page, tenant)
    product = card.get_by_role("heading", level=3).inner_text()

    card.get_by_role("button", name=f"Pause payments – {product}").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Resume automatically on (optional)").fill("2020-01-01")
    dialog.get_by_role("button", name="Pause payments").click()

    expect(dialog.get_by_role("alert")).to_have_text("Choose a date after today.")
    assert stripe_client(live_db, tenant).v1.subscriptions.retrieve(tenant.seeded["subscriptions"][0]
                                                                     ).pause_collection is None


def test_a_promotion_code_is_applied_and_a_bad_one_refused_with_stripes_message(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    client = stripe_client(live_db, tenant)
    sub_id = tenant.seeded["subscriptions"][0]
    coupon = client.v1.coupons.create({"percent_off": 20, "duration": "forever"})
    client.v1.promotion_codes.create({"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "SPRING20"})
    used = client.v1.promotion_codes.create(
        {"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "OLD10"})
    client.v1.promotion_codes.update(used.id, {"active": False})
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    card = _team_card(page, tenant)
    product = card.get_by_role("heading", level=3).inner_text()
    expect(card.get_by_text(re.compile(r"^Next payment: \$49\.00 on"))).to_be_visible()

    card.get_by_role("button", name=f"Add promotion code – {product}").click()
    field = card.get_by_label("Promotion code", exact=True)
    field.fill("OLD10")
    card.get_by_role("button", name="Apply").click()
    expect(card.get_by_role("alert")).to_have_text(re.compile("cannot be redeemed because it is inactive"))
    expect(field).to_have_attribute("aria-invalid", "true")

    field.fill("NOPE")
    card.get_by_role("button", name="Apply").click()
    expect(card.get_by_role("alert")).to_have_text("This promotion code can't be used.")
    assert client.v1.subscriptions.retrieve(sub_id).discounts == []

    field.fill("spring20")
    card.get_by_role("button", name="Apply").click()

    expect(page.get_by_role("status").filter(has_text=f"SPRING20 was applied to {product}.")).to_be_visible()
    expect(card.get_by_text("Discount: 20% off", exact=True)).to_be_visible()
    expect(card.get_by_text(re.compile(r"^Next payment: \$39\.20 on"))).to_be_visible()  # $49 − 20 %
    expect(card.get_by_label("Promotion code", exact=True)).to_have_count(0)
    discount = client.v1.subscriptions.retrieve(sub_id, {"expand": ["discounts"]}).discounts[0]
    assert discount.source.coupon == coupon.id
