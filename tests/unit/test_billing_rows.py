"""Money owed and the invoice list as display rows (billstack/billing_rows.py), per locale."""

from __future__ import annotations

from datetime import datetime, timezone

from billstack.billing_rows import due_rows, invoice_line
from billstack.services.views import InvoiceView

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=timezone.utc)
HOSTED = "https://invoice.stripe.test/i/in_1"


def invoice(**changes) -> InvoiceView:
    fields = dict(
        id="in_1", number="HQ72BE60-0024", status="open", created=datetime(2027, 1, 1, tzinfo=timezone.utc),
        total=15000, amount_due=15000, currency="usd", invoice_pdf="https://pdf.test/in_1.pdf",
        hosted_invoice_url=HOSTED, description="Onboarding workshop",
        due_date=datetime(2027, 1, 31, tzinfo=timezone.utc),
    )
    return InvoiceView(**{**fields, **changes})


def test_an_open_invoice_is_in_the_banner_with_its_amount_due_date_and_pay_link():
    [row] = due_rows([invoice(amount_due=12000)], "en", now=NOW)
    assert (row.amount, row.description, row.due_line, row.overdue) == ("$120.00", "Onboarding workshop", "Due Jan 31, 2027", False)
    assert (row.pay_url, row.pay_text) == (HOSTED, "Pay $120.00")


def test_a_past_due_invoice_says_since_when_and_one_without_a_date_is_due_now():
    overdue, undated = due_rows([invoice(due_date=datetime(2027, 1, 3, tzinfo=timezone.utc)), invoice(id="in_2", due_date=None)], "en", now=NOW)
    assert (overdue.due_line, overdue.overdue) == ("Overdue since Jan 3, 2027", True)
    assert (undated.due_line, undated.overdue) == ("Due now", False)


def test_the_banner_speaks_the_locale_and_names_an_invoice_without_a_description():
    [de] = due_rows([invoice(description=None)], "de", now=NOW)
    assert (de.pay_text, de.description, de.due_line) == ("150,00\xa0$ bezahlen", "Rechnung HQ72BE60-0024", "Fällig am 31.01.2027")
    [fr] = due_rows([invoice()], "fr", now=NOW)
    assert (fr.pay_text, fr.due_line) == ("Payer 150,00\xa0$US", "À régler avant le 31 janv. 2027")


def test_only_open_invoices_with_something_to_pay_and_a_page_to_pay_it_on_are_owed():
    assert due_rows([invoice(status="paid"), invoice(amount_due=0), invoice(hosted_invoice_url=None)], "en", now=NOW) == []


def test_an_open_row_shows_its_due_date_and_a_paid_row_its_receipt():
    open_row = invoice_line(invoice(), "en", now=NOW)
    assert (open_row.description, open_row.due_line, open_row.pay_url, open_row.view_url) == (
        "Onboarding workshop", "Due Jan 31, 2027", HOSTED, ""
    )
    paid = invoice_line(invoice(status="paid", amount_due=0), "en", now=NOW)
    assert (paid.due_line, paid.pay_url, paid.view_url) == ("", "", HOSTED)
    assert paid.view_label == "View receipt for invoice HQ72BE60-0024"
    assert invoice_line(invoice(status="void"), "en", now=NOW).view_url == ""
