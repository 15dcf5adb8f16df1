"""Tenant-controlled and Stripe-provided strings stay inert (issue 18, item 5).

On the way in, setting_checks refuses what is not a plain http(s) link, an https logo or a
`#rrggbb` colour. On the way out, the same rules drop or replace whatever got stored anyway
(before the checks, by hand, or by Stripe): branding (services/portal/reads.py
`branding_of`), invoice links (services/portal/rows.py `invoice_view`) and the display
rows (billstack/presenters.py). Names stay text: React renders them as text nodes, which
tests/e2e/test_hostile_strings.py shows in Chromium.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from billstack import presenters
from billstack.errors import BillStackError
from billstack.models import DEFAULT_ACCENT_COLOR, Invoice, Project
from billstack.services.portal.reads import branding_of
from billstack.services.portal.rows import invoice_view
from billstack.services.setting_checks import (
    check_colour,
    check_email,
    check_http_url,
    check_logo_url,
    safe_colour,
    safe_email,
    safe_link,
    safe_logo_url,
)
from billstack.services.views import InvoiceView

HOSTILE_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x00javascript:alert(1)",
    "javascript\x01:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:image/svg+xml;base64,PHN2Zz4=",
    "//evil.example/x",
    "/relative/path",
    'https://a.example/"><script>alert(1)</script>',
    "https://a.example/'onmouseover='alert(1)",  # no `'` check needed: still a URL, but see below
    "https://a.example\\@evil.example/",
    "https://user:pass@a.example/",
    "https://a.example/\u2028x",
    "https://a.example/ x",
    "https://a.example/\u00a0x",
    "https://*.example/",
    "file:///etc/passwd",
]
# The one above that is a valid http(s) URL: a quote inside a URL is harmless in an
# attribute React writes (it escapes it), so it is allowed, as on the way in.
STILL_A_URL = {"https://a.example/'onmouseover='alert(1)"}
HOSTILE_COLOURS = [
    "red", "red;background:url(https://evil.example/x)", "#4f46e5;background:url(x)", "expression(alert(1))",
    "#4f46e5</style><script>alert(1)</script>", "#4f46e5\n", "#4f46e", "#4f46e5f", "#+1+2+3", "# f f f",
    "url(javascript:alert(1))", "", "#GGGGGG",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_urls_are_refused_in_and_dropped_out(url: str) -> None:
    if url in STILL_A_URL:
        assert check_http_url(url, "support_url") == url and safe_link(url) == url
        return
    with pytest.raises(BillStackError):
        check_http_url(url, "support_url")
    with pytest.raises(BillStackError):
        check_logo_url(url)
    assert safe_link(url) is None
    assert safe_logo_url(url) is None


def test_plain_links_pass_and_logos_must_be_https() -> None:
    for url in ("https://a.example/help?x=1#top", "http://a.example:8080/terms", "https://192.0.2.1/privacy"):
        assert safe_link(url) == url
    assert safe_logo_url("https://cdn.example.com/logo.png") == "https://cdn.example.com/logo.png"
    assert safe_logo_url("http://cdn.example.com/logo.png") is None
    assert safe_link(None) is None and safe_link("") is None and safe_logo_url(None) is None


@pytest.mark.parametrize("colour", HOSTILE_COLOURS)
def test_hostile_colours_are_refused_in_and_replaced_out(colour: str) -> None:
    with pytest.raises(BillStackError):
        check_colour(colour)
    assert safe_colour(colour) == DEFAULT_ACCENT_COLOR
    default_links = presenters.link_colours(DEFAULT_ACCENT_COLOR)
    assert presenters.link_colours(colour) == default_links
    assert presenters.readable_text_on(colour) == "#ffffff"


def test_a_real_colour_passes() -> None:
    assert safe_colour("#AbCdEf") == "#AbCdEf"
    assert presenters.link_colours("#00ff00")[0].startswith("#") and len(presenters.link_colours("#00ff00")[0]) == 7


@pytest.mark.parametrize("email", ['"><script>@a.example', "a@a.example?bcc=x@evil.example", "a b@a.example",
                                   "javascript:alert(1)", "a@a.example\n"])
def test_hostile_support_emails_are_refused_in_and_dropped_out(email: str) -> None:
    with pytest.raises(BillStackError):
        check_email(email, "support_email")
    assert safe_email(email) is None
    assert safe_email("help@a.example") == "help@a.example"


def hostile_project() -> Project:
    """A project as a hand-written UPDATE (or a value older than the checks) left it."""
    return Project(
        id="proj_x", team_id="team_x", name="Acme", display_name='"><script>alert(1)</script><img src=x onerror=alert(1)>',
        logo_url="javascript:alert(1)", accent_color="red;background:url(https://evil.example/x)",
        support_email="javascript:alert(1)", support_url="JaVaScRiPt:alert(1)", terms_url=" javascript:alert(1)",
        privacy_url="data:text/html,<script>alert(1)</script>", stripe_secret_key_sealed="x",
    )


def test_branding_drops_what_would_not_be_inert() -> None:
    branding = branding_of(hostile_project())
    assert branding.logo_url is None and branding.support_url is None
    assert branding.terms_url is None and branding.privacy_url is None and branding.support_email is None
    assert branding.accent_color == DEFAULT_ACCENT_COLOR
    # The name is text, kept as written: the page renders it as text (tests/e2e/test_hostile_strings.py).
    assert branding.display_name.startswith('"><script>')


def test_branding_keeps_good_values() -> None:
    project = hostile_project()
    project.logo_url, project.accent_color = "https://cdn.example.com/l.png", "#123456"
    project.support_url, project.support_email = "https://help.example.com", "help@example.com"
    branding = branding_of(project)
    assert (branding.logo_url, branding.accent_color) == ("https://cdn.example.com/l.png", "#123456")
    assert (branding.support_url, branding.support_email) == ("https://help.example.com", "help@example.com")


def hostile_invoice(status: str = "open") -> Invoice:
    return Invoice(
        project_id="proj_x", customer_id="pc_x", stripe_id="in_x", number='<img src=x onerror=alert(1)>', status=status,
        total=100, amount_due=100, invoice_pdf="javascript:alert(1)", hosted_invoice_url="data:text/html,<b>x</b>",
        created=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )


def test_stripes_invoice_links_are_checked_like_a_tenants() -> None:
    view = invoice_view(hostile_invoice())
    assert view.invoice_pdf is None and view.hosted_invoice_url is None
    assert view.number == "<img src=x onerror=alert(1)>"  # text
    good = hostile_invoice()
    good.invoice_pdf, good.hosted_invoice_url = "https://pay.stripe.com/invoice/x/pdf", "https://invoice.stripe.com/i/x"
    assert invoice_view(good).invoice_pdf == "https://pay.stripe.com/invoice/x/pdf"


def test_presenters_drop_hostile_links_even_from_a_view_built_elsewhere() -> None:
    view = InvoiceView(id="in_x", number="</style><script>alert(1)</script>", status="open",
                       created=datetime(2026, 1, 1, tzinfo=timezone.utc), total=100, amount_due=100, currency="usd",
                       invoice_pdf="JaVaScRiPt:alert(1)", hosted_invoice_url=" javascript:alert(1)")
    row = presenters.invoice_row(view, "en")
    assert row.pdf_url == "" and row.pay_url == ""
    assert row.number == "</style><script>alert(1)</script>"
