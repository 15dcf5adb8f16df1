"""The portal in Japanese, Finnish and Brazilian Portuguese on a 375 px phone (issue 20):
the page's `lang` is the resolved tag, and nothing is wider than the screen, long German and
Finnish words from Stripe and the project included. Each locale reaches the page another
way: the session's own locale (ja), the browser's Accept-Language with `auto` (fi), the
Stripe customer's preferred_locales with `auto` (pt-BR). Screenshots go to
test-artifacts/locales/ (gitignored)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from billstack.db import session_scope
from billstack.i18n import t
from billstack.models import Customer, Project
from billstack.services.sync import sync_customer
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, stripe_client

PHONE = {"width": 375, "height": 812}
# Long single words a line cannot break at: a German product name from Stripe, a Finnish
# plan nickname and project name.
PRODUCT = "Unternehmenskommunikationsplattform"
NICKNAME = "Yritysviestintäpalvelukokonaisuus"
PROJECT_NAME = "Asiakaspalvelujärjestelmäkokonaisuudet"

# Every visible element whose box reaches past the viewport's right edge or is wider than it
# (a tooltip or menu that is closed is not rendered, so it does not count).
OVERFLOWING_JS = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    if (box.width > width + 0.5 || box.right > width + 0.5) {
      found.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} `
        + `${Math.round(box.left)}..${Math.round(box.right)}: ${(el.textContent || '').trim().slice(0, 40)}`);
    }
  }
  return found;
}"""


def _long_words(live: LiveServer, tenant: Tenant, preferred_locales: list[str] | None) -> None:
    stripe = stripe_client(live, tenant)
    subscription = stripe.v1.subscriptions.retrieve(tenant.seeded["subscriptions"][0])
    price = subscription["items"].data[0].price
    stripe.v1.products.update(price.product, {"name": PRODUCT})
    stripe.v1.prices.update(price.id, {"nickname": NICKNAME})
    if preferred_locales:
        stripe.v1.customers.update(tenant.stripe_customer_id, {"preferred_locales": preferred_locales})
    with session_scope() as db:
        project = db.get(Project, tenant.project_id)
        project.display_name = PROJECT_NAME
        db.add(project)
        sync_customer(db, project, db.get(Customer, tenant.customer_id))  # Stripe's names into the mirror
        db.commit()


@pytest.mark.parametrize(
    ("locale", "session_locale", "browser_locale", "preferred_locales"),
    [
        ("ja", "ja", "en-US", None),  # the session says so
        ("fi", "auto", "fi-FI", None),  # auto: the browser's Accept-Language
        ("pt-BR", None, "en-US", ["pt-BR"]),  # auto: the Stripe customer's preferred_locales
    ],
)
def test_the_portal_fits_a_375_px_phone_in_each_language(
    browser: Browser, live_db: LiveServer, tenant: Tenant, artifacts_dir: Path,
    locale: str, session_locale: str | None, browser_locale: str, preferred_locales: list[str] | None,
) -> None:
    _long_words(live_db, tenant, preferred_locales)
    body = {"locale": session_locale} if session_locale else {}
    url = new_portal_session(live_db.url, tenant, **body)["portalUrl"]
    context = browser.new_context(locale=browser_locale, viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(url)
        expect(page.get_by_role("heading", name=t(locale, "subs.heading"), level=2, exact=True)).to_be_visible(timeout=30_000)
        expect(page.locator("html")).to_have_attribute("lang", locale)
        expect(page.get_by_text(PRODUCT).first).to_be_visible()
        expect(page.get_by_role("heading", name=t(locale, "inv.heading"), level=2, exact=True)).to_be_visible()
        shots = artifacts_dir / "locales"
        shots.mkdir(exist_ok=True)
        _assert_fits(page, shots / f"portal-{locale}-375px.png")

        # The cancel dialog names the long product too.
        page.locator("[data-subscription-id]").filter(has_text=PRODUCT).get_by_role(
            "button", name=re.compile("^" + re.escape(t(locale, "subs.cancel")))).click()
        dialog = page.get_by_role("alertdialog")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_text(PRODUCT).first).to_be_visible()
        dialog.evaluate("el => Promise.all(el.getAnimations({subtree: true}).map(a => a.finished))")
        _assert_fits(page, shots / f"portal-{locale}-375px-cancel.png")
    finally:
        context.close()


def _assert_fits(page: Page, screenshot: Path) -> None:
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")
    sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    overflowing = page.evaluate(OVERFLOWING_JS)
    assert sizes[0] <= sizes[1], f"horizontal scrolling {sizes} ({overflowing}); see {screenshot}"
    assert overflowing == [], f"wider than the screen; see {screenshot}"
