"""Invoice history: number, what it is for, date, amount, status, when an open one is due,
PDF download, Pay for open ones and View (the hosted page, a receipt) for paid ones."""

from __future__ import annotations

import reflex as rx

from billstack.billing_rows import InvoiceLine
from billstack.components.layout import label, section, spinner_while
from billstack.state.portal import PortalState as S


def invoice_item(invoice: InvoiceLine) -> rx.Component:
    return rx.el.li(
        rx.el.div(
            rx.vstack(
                rx.text(invoice.number, weight="medium", size="2", class_name="invoice-number"),
                rx.cond(
                    invoice.description != "",
                    rx.text(invoice.description, size="2", class_name="invoice-description"),
                ),
                rx.text(invoice.date, size="1", color_scheme="gray", high_contrast=True),
                spacing="0",
                align="start",
                min_width="0",
            ),
            rx.text(invoice.amount, size="2", weight="medium", class_name="invoice-amount"),
            rx.vstack(
                rx.badge(invoice.status_label, color_scheme=invoice.status_color, variant="soft", high_contrast=True),
                rx.cond(
                    invoice.due_line != "",
                    rx.text(invoice.due_line, size="1", weight="medium", class_name="invoice-due"),
                ),
                spacing="1",
                align="start",
            ),
            rx.hstack(
                rx.cond(
                    invoice.pdf_url != "",
                    rx.link(
                        rx.icon("download", size=14, aria_hidden="true"),
                        label("inv.download"),
                        class_name="icon-link",
                        href=invoice.pdf_url,
                        size="2",
                        aria_label=invoice.download_label,
                        custom_attrs={"download": ""},  # a file to save, not a tab to open
                    ),
                ),
                rx.cond(
                    invoice.pay_url != "",
                    rx.link(
                        label("inv.pay"),
                        href=invoice.pay_url,
                        is_external=True,
                        size="2",
                        weight="bold",
                        aria_label=invoice.pay_label,
                    ),
                ),
                rx.cond(
                    invoice.view_url != "",
                    rx.link(
                        label("inv.view"),
                        href=invoice.view_url,
                        is_external=True,
                        size="2",
                        aria_label=invoice.view_label,
                    ),
                ),
                spacing="4",
                justify="end",
                class_name="invoice-actions",
            ),
            class_name="invoice-grid",
        ),
        class_name="invoice-row",
        data_invoice_id=invoice.id,
    )


def invoices_section() -> rx.Component:
    return rx.cond(
        S.show_invoices,
        section(
            "inv.heading",
            rx.cond(
                S.invoices.length() > 0,
                rx.card(
                    rx.el.ul(rx.foreach(S.invoices, invoice_item), class_name="invoice-list"),
                    rx.cond(
                        S.invoices_has_more,
                        rx.button(
                            spinner_while(S.pending == "invoices"),
                            label("inv.more"),
                            variant="soft",
                            color_scheme="gray",
                            disabled=S.pending != "",
                            on_click=S.show_more_invoices,
                            margin_top="var(--space-3)",
                        ),
                    ),
                ),
                rx.text(label("inv.empty"), color_scheme="gray", high_contrast=True),
            ),
            section_id="invoices",
        ),
    )
