"""Hostile tenant and Stripe strings stay inert in a real Chromium (issue 18, item 5).

The project's branding is written straight into the live database (past the setting
checks, as a value stored before them or by hand would be), the session's return URL too;
the product name and price nickname come from the emulator (Stripe), the invoice number
and links and the card brand straight into the mirror. The page must show the names as
text, inject nothing (no script, handler, image or style of theirs), fire no dialog, carry
no `javascript:`/`data:` link, keep the default accent and report no CSP violation.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlmodel import select

from billstack import presenters
from billstack.db import session_scope
from billstack.models import DEFAULT_ACCENT_COLOR, Customer, Invoice, PaymentMethod, PortalSession, Project
from billstack.services.sync import sync_customer
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, open_portal, stripe_client
from tests.e2e.test_csp import watch_csp

# Each would set window.__pwned (or open a dialog) if it ever ran.
NAME = '"><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">Acme'
PRODUCT = "<img src=x onerror=alert(1)>Team</style><style>body{display:none}</style>"
NICKNAME = "Yearly<script>alert(2)</script>"
INVOICE_NUMBER = "<svg onload=alert(3)>INV-1"
BRAND = "<svg onload=alert(4)>"
HOSTILE_PROJECT = {
    "display_name": NAME,
    "logo_url": "javascript:window.__pwned=3",
    "accent_color": "red;background:url(https://evil.example/x)",
    "support_email": "x@evil.example?body=<script>",
    "support_url": "JaVaScRiPt:window.__pwned=4",
    "terms_url": " javascript:window.__pwned=5",
    "privacy_url": "data:text/html,<script>window.__pwned=6</script>",
}

_INJECTED = """() => ({
  pwned: window.__pwned ?? null,
  handlers: document.querySelectorAll('[onerror], [onload], [onclick], [onmouseover]').length,
  images: [...document.images].map((img) => img.getAttribute('src')).filter((src) => src === 'x'),
  svgs: document.querySelectorAll('main svg[onload], svg svg').length,
  scripts: [...document.scripts].filter((s) => /pwned|alert/.test(s.textContent)).length,
  styles: [...document.querySelectorAll('style')].filter((s) => /evil|display:none/.test(s.textContent)).length,
  badLinks: [...document.querySelectorAll('[href], [src], [action]')]
      .map((el) => el.href || el.src || el.action || '')
      .filter((url) => !/^(https?:|mailto:)/i.test(url) && url !== ''),
  hidden: getComputedStyle(document.body).display === 'none',
  brandLink: getComputedStyle(document.querySelector('.portal-root')).getPropertyValue('--brand-link').trim(),
})"""


def make_hostile(live: LiveServer, tenant: Tenant, session_id: str) -> None:
    stripe = stripe_client(live, tenant)
    subscription = stripe.v1.subscriptions.retrieve(tenant.seeded["subscriptions"][0])
    price = subscription["items"].data[0].price
    stripe.v1.products.update(price.product, {"name": PRODUCT})
    stripe.v1.prices.update(price.id, {"nickname": NICKNAME})
    with session_scope() as db:
        project = db.get(Project, tenant.project_id)
        for name, value in HOSTILE_PROJECT.items():
            setattr(project, name, value)
        db.add(project)
        customer = db.get(Customer, tenant.customer_id)
        sync_customer(db, project, customer)  # Stripe's names into the mirror
        for invoice in db.exec(select(Invoice).where(Invoice.customer_id == customer.id)):
            invoice.number = INVOICE_NUMBER
            invoice.invoice_pdf = "javascript:window.__pwned=7"
            invoice.hosted_invoice_url = "data:text/html,<script>window.__pwned=8</script>"
            db.add(invoice)
        for method in db.exec(select(PaymentMethod).where(PaymentMethod.customer_id == customer.id)):
            method.brand = BRAND
            db.add(method)
        session = db.get(PortalSession, session_id)
        session.return_url = "javascript:window.__pwned=9"
        db.add(session)
        db.commit()


def test_hostile_branding_and_stripe_strings_render_as_text(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    session = new_portal_session(live_db.url, tenant)
    make_hostile(live_db, tenant, session["sessionId"])
    watch = watch_csp(page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    open_portal(page, session["portalUrl"])
    # The names show as the text they are.
    expect(page.get_by_text(NAME, exact=True).first).to_be_visible()
    expect(page.get_by_text(PRODUCT, exact=False).first).to_be_visible()
    expect(page.get_by_text(INVOICE_NUMBER, exact=False).first).to_be_visible()
    expect(page.get_by_text(BRAND, exact=False).first).to_be_visible()
    # No link from the dropped URLs: no terms, privacy or support link, no way back, no PDF link.
    for name in ("Terms", "Privacy", "Support"):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="Return to")).to_have_count(0)
    expect(page.locator(".brand-logo")).to_have_count(0)  # the initial instead

    found = page.evaluate(_INJECTED)
    assert found == {
        "pwned": None, "handlers": 0, "images": [], "svgs": 0, "scripts": 0, "styles": 0, "badLinks": [],
        "hidden": False, "brandLink": presenters.link_colours(DEFAULT_ACCENT_COLOR)[0],
    }
    assert dialogs == []
    assert watch.problems() == []
