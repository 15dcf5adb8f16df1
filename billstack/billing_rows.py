"""Money owed and the invoice list, as display rows for one locale (pure functions).

Beside `presenters` (which turns the rest of the view into rows): the amount-due banner's
rows and the invoice list's richer rows (what the invoice is for, when it is due, a
receipt link for a paid one) are built here, so the Reflex state stays thin and all of it
is testable without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billstack.clock import utcnow
from billstack.i18n import format_day, format_money, t
from billstack.presenters import InvoiceRow, invoice_row
from billstack.services.views import InvoiceView


@dataclass
class InvoiceLine(InvoiceRow):
    """An invoice row with what it is for, when it is due, and a receipt for a paid one."""

    description: str = ""
    due_line: str = ""  # open invoices only: "Due Jan 3, 2027" / "Overdue since Jan 3, 2027"
    view_url: str = ""  # paid invoices only: Stripe's hosted page, the customer's receipt
    view_label: str = ""


@dataclass
class DueRow:
    """One open invoice in the amount-due banner."""

    id: str = ""
    amount: str = ""
    description: str = ""
    due_line: str = ""
    overdue: bool = False
    pay_url: str = ""
    pay_text: str = ""


def invoice_line(invoice: InvoiceView, locale: str, *, now: datetime | None = None) -> InvoiceLine:
    row = invoice_row(invoice, locale)
    paid = invoice.status == "paid" and bool(invoice.hosted_invoice_url)
    return InvoiceLine(
        **vars(row),
        description=(invoice.description or "").strip(),
        due_line=_due_line(invoice, locale, now or utcnow()) if invoice.status == "open" else "",
        view_url=(invoice.hosted_invoice_url or "") if paid else "",
        view_label=t(locale, "inv.view_label", number=row.number) if paid else "",
    )


def due_rows(invoices: list[InvoiceView], locale: str, *, now: datetime | None = None) -> list[DueRow]:
    """The banner's rows: every open invoice with an amount due and a page to pay it on."""
    moment = now or utcnow()
    rows = []
    for invoice in invoices:
        if invoice.status != "open" or invoice.amount_due <= 0 or not invoice.hosted_invoice_url:
            continue
        amount = format_money(invoice.amount_due, invoice.currency, locale)
        rows.append(
            DueRow(
                id=invoice.id,
                amount=amount,
                description=(invoice.description or "").strip() or t(locale, "due.invoice", number=invoice.number or invoice.id),
                due_line=_due_line(invoice, locale, moment),
                overdue=_overdue(invoice, moment),
                pay_url=invoice.hosted_invoice_url,
                pay_text=t(locale, "due.pay", amount=amount),
            )
        )
    return rows


def _overdue(invoice: InvoiceView, now: datetime) -> bool:
    return invoice.due_date is not None and invoice.due_date < now


def _due_line(invoice: InvoiceView, locale: str, now: datetime) -> str:
    if invoice.due_date is None:
        return t(locale, "due.now")
    key = "due.overdue_since" if _overdue(invoice, now) else "due.due_on"
    return t(locale, key, date=format_day(invoice.due_date, locale))
