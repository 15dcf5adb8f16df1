"""The portal's look as a customer sees it (issue 13): spacing measured in the browser,
touch targets and line breaks at 375 px, the status badge, errors inside dialogs, branding
and the document's title and language."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from billstack.presenters import link_colours
from devtools.emulator import stripe_down
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, seed_tenant
from tests.e2e.test_portal import assert_no_serious_axe_violations

MIN_GAP_PX = 8
MIN_TARGET_PX = 44
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
HEADINGS = {"en": "Subscriptions", "de": "Abonnements", "fr": "Abonnements"}
# 1×1 transparent PNG.
PIXEL_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")

# The box of an element's own text (a Range over its contents): unlike the element's box,
# it ends where the words end.
TEXT_BOX_JS = """el => { const r = document.createRange(); r.selectNodeContents(el);
  const b = r.getBoundingClientRect(); return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; }"""
# How many lines an element's text (its text nodes; an icon beside it is not text) takes.
TEXT_LINES_JS = """el => { const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT); const tops = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const r = document.createRange(); r.selectNodeContents(node);
    for (const b of r.getClientRects()) if (b.width > 0) tops.push(b.top);
  }
  tops.sort((a, b) => a - b);
  return tops.filter((top, i) => i === 0 || top - tops[i - 1] > 4).length; }"""


def open_portal(page: Page, url: str, locale: str = "en") -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=HEADINGS[locale], level=2)).to_be_visible(timeout=30_000)


def box(locator: Locator) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not rendered"
    return found


def css_rgb(hex_colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)))


def settled(locator: Locator) -> None:
    """Wait for the element's animations (a dialog scales in as it opens) to finish: geometry
    measured mid-animation is not the layout's."""
    locator.evaluate("el => Promise.all(el.getAnimations({subtree: true}).map(a => a.finished))")


def gap_below(upper: Locator, lower: Locator) -> float:
    return box(lower)["y"] - (box(upper)["y"] + box(upper)["height"])


def test_cancel_dialog_is_spaced_and_a_cancelling_subscription_says_when_it_ends(
    page: Page, live_db: LiveServer, tenant: Tenant, artifacts_dir: Path
) -> None:
    page.set_viewport_size(DESKTOP)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    card = page.locator("[data-subscription-id]").first
    expect(card.locator(".rt-Badge")).to_have_text("Active")

    card.get_by_role("button", name=re.compile("^Cancel subscription")).click()
    dialog = page.get_by_role("alertdialog")
    description = dialog.get_by_text(re.compile("^Your subscription stays active until"))
    reasons = dialog.locator(".cancel-reasons")
    buttons = dialog.locator(".dialog-actions")
    expect(buttons).to_be_visible()
    settled(dialog)
    assert gap_below(description, reasons) >= MIN_GAP_PX
    assert gap_below(dialog.get_by_text("Why are you canceling? (optional)"), dialog.get_by_role("radiogroup")) >= 4
    assert gap_below(reasons, buttons) >= MIN_GAP_PX
    keep, confirm = box(buttons.get_by_role("button").nth(0)), box(buttons.get_by_role("button").nth(1))
    assert confirm["x"] - (keep["x"] + keep["width"]) >= MIN_GAP_PX
    page.screenshot(path=str(artifacts_dir / "portal-layout-cancel-dialog.png"))

    dialog.get_by_role("radio", name="It's too expensive").check()
    dialog.get_by_role("button", name="Cancel at period end").click()
    expect(dialog).to_have_count(0)

    # The badge says what happens next, not "Active"; the line below still says the date.
    badge = card.locator(".rt-Badge")
    expect(badge).to_have_text(re.compile(r"^Cancels [A-Z][a-z]{2} \d{1,2}, \d{4}$"))
    expect(card.get_by_text(re.compile(r"^Cancels on "))).to_be_visible()

    # The notice's close button: a real button named "Dismiss", at the right, clear of the text.
    notice = page.get_by_role("status").filter(has_text="will be canceled on")
    dismiss = notice.get_by_role("button", name="Dismiss")
    expect(dismiss).to_be_visible()
    text = notice.locator(".notice-text").evaluate(TEXT_BOX_JS)
    close = box(dismiss)
    assert close["x"] - text["right"] >= MIN_GAP_PX, (text, close)
    assert close["x"] + close["width"] >= box(notice)["x"] + box(notice)["width"] - 24, "Dismiss sits at the right"
    dismiss.click()
    expect(notice).to_have_count(0)


def test_at_375_px_targets_are_44_px_the_header_fits_and_dialog_buttons_stack(
    page: Page, live_db: LiveServer, tenant: Tenant, artifacts_dir: Path
) -> None:
    page.set_viewport_size(PHONE)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no horizontal scrolling"

    targets = page.locator("#main").locator("button:visible, a:visible")
    assert targets.count() > 5
    small = [
        (target.inner_text() or target.get_attribute("aria-label"), box(target)["height"])
        for target in targets.all()
        if box(target)["height"] < MIN_TARGET_PX
    ]
    assert small == [], f"under {MIN_TARGET_PX} px tall: {small}"

    # The header: the brand and its links on one row, or the links on rows of their own
    # below the brand, with room between.
    brand = box(page.locator(".portal-brand"))
    for link in page.locator("header").get_by_role("link").all():
        link_box = box(link)
        same_row = link_box["y"] < brand["y"] + brand["height"] and brand["y"] < link_box["y"] + link_box["height"]
        if same_row:
            assert link_box["x"] >= brand["x"] + brand["width"] + MIN_GAP_PX
        else:
            assert link_box["y"] >= brand["y"] + brand["height"] + 4, (brand, link_box)
        assert link_box["x"] + link_box["width"] <= PHONE["width"]
    assert_no_serious_axe_violations(page)
    page.screenshot(path=str(artifacts_dir / "portal-layout-375.png"), full_page=True)

    page.get_by_role("button", name=re.compile("^Cancel subscription")).first.click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    settled(dialog)
    keep = box(dialog.get_by_role("button", name="Keep subscription"))
    confirm = box(dialog.get_by_role("button", name="Cancel at period end"))
    assert keep["width"] == pytest.approx(confirm["width"], abs=1), "full width, the same width"
    assert keep["x"] == pytest.approx(confirm["x"], abs=1)
    assert confirm["y"] >= keep["y"] + keep["height"] + MIN_GAP_PX, "stacked with room between"
    assert min(keep["height"], confirm["height"]) >= MIN_TARGET_PX
    assert_no_serious_axe_violations(page)
    page.screenshot(path=str(artifacts_dir / "portal-layout-375-dialog.png"))


@pytest.mark.parametrize("locale", ["de", "fr"])
def test_invoice_numbers_and_download_links_never_break_at_375_px(
    page: Page, live_db: LiveServer, tenant: Tenant, locale: str
) -> None:
    page.set_viewport_size(PHONE)
    open_portal(page, new_portal_session(live_db.url, tenant, locale=locale)["portalUrl"], locale)
    numbers = page.locator(".invoice-number")
    expect(numbers.first).to_be_visible()
    assert numbers.count() >= 10
    for number in numbers.all():
        assert number.evaluate(TEXT_LINES_JS) == 1, f"{number.inner_text()!r} breaks across lines"
    downloads = page.get_by_role("link", name=re.compile(r"^(PDF der Rechnung|Télécharger le PDF de la facture) "))
    assert downloads.count() >= 10
    for link in downloads.all():
        assert link.evaluate(TEXT_LINES_JS) == 1, f"{link.inner_text()!r} wraps"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no horizontal scrolling"


def test_a_checkout_failure_shows_inside_the_dialog_and_the_button_works_again(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    page.get_by_role("button", name="Add payment method").click()
    dialog = page.get_by_role("dialog")
    go = dialog.get_by_role("button", name="Continue to secure checkout")
    expect(go).to_be_visible()
    settled(dialog)
    with stripe_down(live_db.emulator_url, tenant.stripe_key):
        go.click()
        expect(dialog.get_by_role("alert")).to_have_text(
            "The payment provider is unavailable right now. Nothing was changed; please try again in a moment.",
            timeout=30_000,
        )
        expect(go).to_be_enabled()
        assert gap_below(dialog.get_by_role("alert"), dialog.locator(".dialog-actions")) >= MIN_GAP_PX
    go.click()  # Stripe is back: the same button now leads on to Checkout
    page.wait_for_url(re.compile(r"/checkout|/c/"), timeout=30_000)


@pytest.mark.parametrize(
    ("locale", "title"),
    [("en", "Acme Cloud · Billing"), ("de", "Acme Cloud · Abrechnung"), ("fr", "Acme Cloud · Facturation")],
)
def test_title_and_html_lang_follow_the_locale_and_the_project(
    page: Page, live_db: LiveServer, tenant: Tenant, locale: str, title: str
) -> None:
    open_portal(page, new_portal_session(live_db.url, tenant, locale=locale)["portalUrl"], locale)
    expect(page).to_have_title(title)
    expect(page.locator("html")).to_have_attribute("lang", locale)


def test_pdf_links_download_and_the_support_mailto_stays_in_the_tab(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    pdfs = page.get_by_role("link", name=re.compile(r"^Download PDF of invoice "))
    expect(pdfs).to_have_count(10)
    for link in pdfs.all():
        assert link.get_attribute("download") is not None, link.get_attribute("href")
    support = page.get_by_role("link", name="Contact support")
    expect(support).to_have_attribute("href", "mailto:support@acme.example")
    assert support.get_attribute("target") in (None, "", "_self")


def test_links_take_the_accent_and_a_broken_logo_falls_back_to_the_initial(
    page: Page, live_db: LiveServer
) -> None:
    accent = "#0f766e"
    tenant = seed_tenant(
        live_db.emulator_url, accent_color=accent, logo_url="https://cdn.example.com/missing-logo.png",
        support_url="https://help.example.com/",
    )
    page.route("https://cdn.example.com/**", lambda route: route.fulfill(status=404, body="gone"))
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])

    header = page.locator("header")
    expect(header.locator(".brand-mark")).to_have_text("A")
    expect(header.locator("img")).to_have_count(0)
    brand = box(header.locator(".portal-brand"))
    mark, name = box(header.locator(".brand-mark")), box(header.get_by_role("heading", level=1))
    assert mark["x"] >= brand["x"] - 1 and name["x"] - (mark["x"] + mark["width"]) <= 16, "no empty gap"

    light, dark = link_colours(accent)
    links = [page.get_by_role("link", name=name_) for name_ in ("Contact support", "Return to Acme Cloud")]
    for link in links:
        expect(link).to_have_css("color", css_rgb(light))
    expect(links[0]).to_have_attribute("target", "_blank")  # a support web page does open a tab
    assert_no_serious_axe_violations(page)

    page.emulate_media(color_scheme="dark")
    for link in links:
        expect(link).to_have_css("color", css_rgb(dark))
    assert_no_serious_axe_violations(page)


def test_a_logo_that_loads_is_shown(page: Page, live_db: LiveServer) -> None:
    tenant = seed_tenant(live_db.emulator_url, logo_url="https://cdn.example.com/logo.png")

    def serve(route: Route) -> None:
        route.fulfill(status=200, body=PIXEL_PNG, content_type="image/png")

    page.route("https://cdn.example.com/**", serve)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    logo = page.locator("header img.brand-logo")
    expect(logo).to_be_visible()
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 1
    expect(page.locator("header .brand-mark")).to_have_count(0)


def test_the_loading_page_has_the_header_and_room_above_its_text(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    # The first paint, before the page has its data: the server-rendered loading state.
    url = new_portal_session(live_db.url, tenant)["portalUrl"]
    # The websocket that brings the data is held open but silent: the page stays loading.
    page.route_web_socket(re.compile(r"/_event"), lambda ws: None)
    page.goto(url)
    status = page.get_by_role("status").filter(has_text="Loading your billing details")
    expect(status).to_be_visible(timeout=30_000)
    header = page.locator("header.portal-header")
    expect(header).to_be_visible()
    assert gap_below(header, status) >= 16
