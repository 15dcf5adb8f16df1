"""Billing information in a real Chromium, as a customer: the address edited in the form
reaches Stripe and survives a reload, a refused email is explained beside its field, a VAT
id added and removed, the forms by keyboard alone at 375 px with axe, fields the project
turned off are not editable, and a change made in Stripe reaches the open page.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from billstack.db import session_scope
from billstack.services import tenants
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, open_portal, stripe_client
from tests.e2e.test_plan_changes import LIVE_TIMEOUT_MS, PHONE, register_webhooks, tab_to
from tests.e2e.test_portal import assert_no_serious_axe_violations


def details_section(page: Page) -> Locator:
    section = page.get_by_role("region", name="Billing information")
    expect(section).to_be_visible()
    return section


def open_form(page: Page) -> Locator:
    section = details_section(page)
    section.get_by_role("button", name="Edit billing information").click()
    form = section.get_by_role("form", name="Edit billing information")
    expect(form).to_be_visible()
    return form


def choose_country(page: Page, form: Locator, country: str) -> None:
    form.get_by_role("combobox", name="Country").click()
    page.get_by_role("option", name=country, exact=True).click()
    expect(form.get_by_role("combobox", name="Country")).to_contain_text(country)


def set_project(tenant: Tenant, **settings) -> None:
    with session_scope() as db:
        tenants.update_project(db, tenant.project_id, **settings)


def test_the_address_edited_in_the_form_reaches_stripe_and_stays_after_a_reload(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    client = stripe_client(live_db, tenant)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    form = open_form(page)
    expect(form.get_by_label("Name")).to_have_value("Jamie Rivera")  # the form starts from what is on file

    form.get_by_label("Address line 1").fill("12 Rue de Rivoli")
    form.get_by_label("Postal code").fill("75001")
    form.get_by_label("City").fill("Paris")
    choose_country(page, form, "France")
    form.get_by_role("button", name="Save").click()

    section = details_section(page)
    expect(page.get_by_role("status").filter(has_text="Your billing information was saved.")).to_be_visible()
    expect(form).to_be_hidden()
    for line in ("12 Rue de Rivoli", "75001 Paris", "France"):
        expect(section.get_by_text(line, exact=True)).to_be_visible()
    address = client.v1.customers.retrieve(tenant.stripe_customer_id).address
    assert (address.line1, address.postal_code, address.city, address.country) == ("12 Rue de Rivoli", "75001", "Paris", "FR")

    page.reload()
    section = details_section(page)
    for line in ("12 Rue de Rivoli", "75001 Paris", "France"):
        expect(section.get_by_text(line, exact=True)).to_be_visible(timeout=30_000)


def test_a_refused_email_is_explained_beside_its_field_and_nothing_changes(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    client = stripe_client(live_db, tenant)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    form = open_form(page)

    form.get_by_label("Email").fill("jamie-at-example")
    form.get_by_role("button", name="Save").click()

    email = form.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    error = form.locator("#details-email-error")
    expect(error).to_have_text("Enter a valid email address, like name@example.com.")
    assert email.get_attribute("aria-describedby") == "details-email-error"
    expect(email).to_have_value("jamie-at-example")  # what the customer typed stays, to be corrected
    assert client.v1.customers.retrieve(tenant.stripe_customer_id).email == "jamie@example.com"

    email.fill("jamie.rivera@example.com")
    form.get_by_role("button", name="Save").click()
    expect(details_section(page).get_by_text("jamie.rivera@example.com", exact=True)).to_be_visible()
    assert client.v1.customers.retrieve(tenant.stripe_customer_id).email == "jamie.rivera@example.com"


def test_a_vat_id_is_added_refused_when_malformed_and_removed(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    client = stripe_client(live_db, tenant)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    section = details_section(page)
    expect(section.get_by_text("No tax ID on file.")).to_be_visible()

    section.get_by_role("button", name="Add tax ID").click()
    tax_form = section.get_by_role("form", name="Add tax ID")
    expect(tax_form.get_by_role("combobox", name="Type")).to_contain_text("EU VAT")
    tax_form.get_by_label("Number").fill("DE12")
    tax_form.get_by_role("button", name="Add", exact=True).click()
    expect(tax_form.locator("#taxid-value-error")).to_have_text(
        "This is not a valid EU VAT number. Check it and try again."
    )
    assert client.v1.customers.tax_ids.list(tenant.stripe_customer_id).data == []

    tax_form.get_by_label("Number").fill("DE123456789")
    tax_form.get_by_role("button", name="Add", exact=True).click()
    row = section.locator(".tax-id-item").filter(has_text="DE123456789")
    expect(row).to_contain_text("EU VAT")
    in_stripe = client.v1.customers.tax_ids.list(tenant.stripe_customer_id).data
    assert [(t.type, t.value) for t in in_stripe] == [("eu_vat", "DE123456789")]
    expect(section.get_by_role("button", name="Add tax ID")).to_be_focused()  # the form gave the focus back
    assert row.get_attribute("data-tax-id") == in_stripe[0].id
    expect(row.get_by_text("Verification pending")).to_be_visible()  # the emulator's test-mode status

    row.get_by_role("button", name="Remove EU VAT DE123456789").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("EU VAT DE123456789 will no longer appear on your invoices.")
    dialog.get_by_role("button", name="Remove tax ID").click()
    expect(dialog).to_be_hidden()
    expect(section.get_by_text("No tax ID on file.")).to_be_visible()
    assert client.v1.customers.tax_ids.list(tenant.stripe_customer_id).data == []


def test_the_forms_by_keyboard_alone_at_375_px_with_axe(
    page: Page, live_db: LiveServer, tenant: Tenant, artifacts_dir: Path
) -> None:
    client = stripe_client(live_db, tenant)
    page.set_viewport_size(PHONE)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    section = details_section(page)

    tab_to(page, section.get_by_role("button", name="Edit billing information"), presses=120)
    page.keyboard.press("Enter")
    form = section.get_by_role("form", name="Edit billing information")
    expect(form.get_by_label("Name")).to_be_focused()  # the form takes the focus when it opens
    line1 = form.get_by_label("Address line 1")
    tab_to(page, line1)
    page.keyboard.type("Hauptstraße 1")
    tab_to(page, form.get_by_role("combobox", name="Country"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("listbox")).to_be_visible()
    page.keyboard.type("Germ", delay=80)  # typeahead in the open list, as a customer types
    expect(page.get_by_role("option", name="Germany")).to_be_focused()
    page.keyboard.press("Enter")
    expect(form.get_by_role("combobox", name="Country")).to_contain_text("Germany")
    assert_no_serious_axe_violations(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no horizontal scrolling"
    page.screenshot(path=str(artifacts_dir / "billing-details-form-375.png"), full_page=True)
    tab_to(page, form.get_by_role("button", name="Save"))
    page.keyboard.press("Enter")
    expect(form).to_be_hidden()
    expect(section.get_by_role("button", name="Edit billing information")).to_be_focused()  # back where it was
    expect(section.get_by_text("Germany", exact=True)).to_be_visible()
    address = client.v1.customers.retrieve(tenant.stripe_customer_id).address
    assert (address.line1, address.country) == ("Hauptstraße 1", "DE")

    tab_to(page, section.get_by_role("button", name="Add tax ID"), presses=120)
    page.keyboard.press("Enter")
    tax_form = section.get_by_role("form", name="Add tax ID")
    expect(tax_form.get_by_label("Number")).to_be_focused()
    page.keyboard.type("DE1")
    page.keyboard.press("Enter")  # Enter in the field submits the form
    expect(tax_form.locator("#taxid-value-error")).to_be_visible()
    assert_no_serious_axe_violations(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no horizontal scrolling"
    page.screenshot(path=str(artifacts_dir / "tax-id-form-375.png"), full_page=True)


def test_fields_the_project_turned_off_are_not_editable(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    set_project(tenant, customer_update_fields="name,address")
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    form = open_form(page)
    expect(form.get_by_label("Name")).to_be_visible()
    expect(form.get_by_label("Address line 1")).to_be_visible()
    expect(form.get_by_label("Email")).to_have_count(0)
    expect(form.get_by_label("Phone")).to_have_count(0)
    expect(form.get_by_text("jamie@example.com", exact=True)).to_be_visible()  # shown, not editable
    section = details_section(page)
    expect(section.get_by_role("button", name="Add tax ID")).to_have_count(0)

    set_project(tenant, customer_update_fields="")
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    section = details_section(page)
    expect(section.get_by_text("Jamie Rivera", exact=True)).to_be_visible()
    expect(section.get_by_role("button", name="Edit billing information")).to_have_count(0)
    expect(section.get_by_role("button", name="Add tax ID")).to_have_count(0)


def test_details_changed_in_stripe_reach_the_open_page(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    register_webhooks(live_db, tenant)
    client = stripe_client(live_db, tenant)
    open_portal(page, new_portal_session(live_db.url, tenant)["portalUrl"])
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    section = details_section(page)

    client.v1.customers.update(tenant.stripe_customer_id, {"address": {"line1": "1 Main St", "city": "Oslo",
                                                                        "postal_code": "0150", "country": "NO"}})
    client.v1.customers.tax_ids.create(tenant.stripe_customer_id, {"type": "no_vat", "value": "123456789MVA"})

    expect(section.get_by_text("0150 Oslo", exact=True)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(section.get_by_text("Norway", exact=True)).to_be_visible()
    expect(section.locator(".tax-id-item").filter(has_text="123456789MVA")).to_contain_text(
        "Norwegian VAT", timeout=LIVE_TIMEOUT_MS
    )
    assert page.evaluate("window.__sameDocument") is True
