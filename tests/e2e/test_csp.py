"""The page's Content-Security-Policy in a real Chromium (api_routes/csp.py).

Violations are counted two ways for the whole test, across navigations (portal → emulator
Checkout → portal): the `securitypolicyviolation` event of every document, reported through
a binding Playwright keeps across page loads, and Chromium's console messages that mention
"Content Security Policy". The portal with a logo, every dialog the tenant enables (cancel,
plan change, billing details and tax id forms, tax id and card removal, the card dialog) and
the Checkout round trip run with none; an inline script injected into the page is blocked.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from playwright.sync_api import ConsoleMessage, Page, expect

from billstack.db import session_scope
from billstack.services import tenants
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, enable_plan_changes, new_portal_session, open_portal, stripe_client
from tests.e2e.test_billing_details import details_section, open_form
from tests.e2e.test_card_wallet import MASTERCARD, add_second_card, card
from tests.e2e.test_plan_changes import open_picker, team_subscription

LOGO_URL = "https://logo.example/acme.png"
# A 1×1 PNG: the logo request is answered by the test (after the browser's CSP check).
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
_RECORDER = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.__billstackCsp && window.__billstackCsp({
    directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample, page: location.href,
  });
});
"""


@dataclass
class CspWatch:
    violations: list[dict] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def problems(self) -> list[object]:
        return [*self.violations, *self.console]


def watch_csp(page: Page) -> CspWatch:
    """Start recording CSP violations on `page` (call before its first navigation)."""
    watch = CspWatch()
    page.expose_function("__billstackCsp", lambda violation: watch.violations.append(violation))
    page.add_init_script(_RECORDER)

    def on_console(message: ConsoleMessage) -> None:
        if "content security policy" in message.text.lower():
            watch.console.append(message.text)

    page.on("console", on_console)
    return watch


def close_dialog(page: Page, role: str = "dialog") -> None:
    page.keyboard.press("Escape")
    expect(page.get_by_role(role)).to_have_count(0)


def test_portal_dialogs_and_checkout_round_trip_without_a_violation(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    with session_scope() as db:
        tenants.update_project(db, tenant.project_id, logo_url=LOGO_URL)
    enable_plan_changes(live_db, tenant)
    add_second_card(live_db, tenant)
    stripe_client(live_db, tenant).v1.customers.tax_ids.create(
        tenant.stripe_customer_id, {"type": "eu_vat", "value": "DE123456789"})
    page.route(LOGO_URL, lambda route: route.fulfill(status=200, content_type="image/png", body=PIXEL))
    watch = watch_csp(page)
    session = new_portal_session(live_db.url, tenant)

    response = page.goto(session["portalUrl"])
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "img-src 'self' https://logo.example;" in policy and f"form-action 'self' {live_db.emulator_url}" in policy
    expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible(timeout=30_000)
    logo = page.locator("img.brand-logo")
    expect(logo).to_be_visible()
    page.wait_for_function("document.querySelector('img.brand-logo').naturalWidth === 1")  # loaded, not refused

    # Cancel dialog.
    subscription = page.locator("[data-subscription-id]").first
    subscription.get_by_role("button", name=re.compile("^Cancel subscription")).click()
    expect(page.get_by_role("alertdialog")).to_contain_text("stays active until")
    close_dialog(page, "alertdialog")

    # Plan change dialog, with a preview.
    picker = open_picker(page, team_subscription(tenant), "Team")
    picker.get_by_role("radio").first.check()
    close_dialog(page)

    # Billing details: the form (its country list), then the tax id form and removal.
    form = open_form(page)
    form.get_by_role("combobox", name="Country").click()
    expect(page.get_by_role("option").first).to_be_visible()
    page.keyboard.press("Escape")
    form.get_by_role("button", name="Cancel").click()
    section = details_section(page)
    expect(section.get_by_role("button", name="Edit billing information")).to_be_focused()  # a client command
    section.get_by_role("button", name="Add tax ID").click()
    expect(section.get_by_role("button", name="Cancel")).to_be_visible()
    section.get_by_role("button", name="Cancel").click()
    section.get_by_role("button", name=re.compile("^Remove EU VAT")).click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    close_dialog(page, "alertdialog")

    # Card removal dialog, then the card dialog and Checkout (the emulator's) and back.
    card(page, MASTERCARD).get_by_role("button", name=f"Remove – {MASTERCARD}").click()
    expect(page.get_by_role("alertdialog")).to_contain_text(f"{MASTERCARD} will be removed")
    close_dialog(page, "alertdialog")
    page.get_by_role("button", name="Add payment method").click()
    page.get_by_role("dialog").get_by_role("button", name="Continue to secure checkout").click()
    page.wait_for_url(re.compile(r"/c/pay/"), timeout=30_000)
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_role("status").filter(has_text="is now your default")).to_be_visible(timeout=30_000)
    # `?setup=success` is dropped by a client command (no eval: no 'unsafe-eval' needed).
    page.wait_for_url(re.compile(r"/portal/[^?]+$"))

    page.reload()
    expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible(timeout=30_000)
    assert watch.problems() == []


def test_an_injected_inline_script_is_blocked(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    watch = watch_csp(page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    assert watch.problems() == []

    # page.evaluate itself is exempt from the policy; what it adds to the page is not.
    page.evaluate("""() => {
        const script = document.createElement('script');
        script.textContent = 'window.__injected = true; alert("injected")';
        document.body.appendChild(script);
        const holder = document.createElement('div');
        holder.innerHTML = '<img src="/nothing.png" onerror="window.__handler = true">';
        document.body.appendChild(holder);
    }""")
    directives = lambda: {v["directive"] for v in watch.violations}  # noqa: E731
    _wait_for(lambda: {"script-src-elem", "script-src-attr"} <= directives(), page)
    assert page.evaluate("() => window.__injected") is None
    assert page.evaluate("() => window.__handler") is None
    assert dialogs == []
    assert any("Content Security Policy" in line for line in watch.console)
    # Nor does the page allow eval (no 'unsafe-eval'). Run later, in a task of the page's own:
    # Playwright lets eval pass during page.evaluate itself.
    page.evaluate("""() => { setTimeout(() => {
        try { eval('1 + 1'); window.__evalResult = 'ran'; } catch (e) { window.__evalResult = e.name; }
    }, 0); }""")
    page.wait_for_function("() => window.__evalResult !== undefined")
    assert page.evaluate("() => window.__evalResult") == "EvalError"


def _wait_for(condition, page: Page, attempts: int = 200) -> None:
    """Poll `condition` between turns of the browser's event loop (violations arrive through
    an exposed binding, i.e. a round trip to this process)."""
    for _ in range(attempts):
        if condition():
            return
        page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => resolve()))")
    raise AssertionError("condition never held")
