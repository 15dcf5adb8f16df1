"""Money owed, at the top of the page: every open invoice's amount, due date and a Pay button.

Shown whatever the project's toggles say (with invoice history off too): money owed must
never be invisible. Pay opens Stripe's hosted invoice page, where the customer pays.
"""

from __future__ import annotations

import reflex as rx

from billstack.billing_rows import DueRow
from billstack.components.layout import label
from billstack.state.portal import PortalState as S

# Touch targets: WCAG 2.5.5's 44 × 44 CSS px, at every width.
TOUCH_PX = "44px"


def link_button(text: rx.Var | str, href: rx.Var | str, *, new_tab: bool = False) -> rx.Component:
    """A link that looks like the accent button (one element: no button nested in a link)."""
    tab = {"target": "_blank", "rel": "noopener noreferrer"} if new_tab else {}
    return rx.button(
        rx.el.a(text, href=href, **tab),
        as_child=True,
        size="3",
        min_height=TOUCH_PX,
        style={"background_color": S.accent, "color": S.accent_text},
        class_name="accent-button link-button",
    )


def due_item(row: DueRow) -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.text(row.amount, size="6", weight="bold", class_name="due-amount"),
            rx.text(row.description, size="2", high_contrast=True),
            rx.text(
                row.due_line,
                size="2",
                weight="medium",
                color_scheme=rx.cond(row.overdue, "red", "amber"),
                high_contrast=True,
                class_name="due-date",
            ),
            spacing="1",
            align="start",
        ),
        link_button(row.pay_text, row.pay_url, new_tab=True),
        justify="between",
        align="center",
        wrap="wrap",
        gap="var(--space-3)",
        width="100%",
        class_name="due-item",
        data_invoice_id=row.id,
    )


def amount_due_banner() -> rx.Component:
    return rx.cond(
        S.amount_due.length() > 0,
        rx.el.section(
            rx.hstack(
                rx.icon("circle-alert", size=20, aria_hidden="true"),
                rx.heading(label("due.heading"), as_="h2", size="4", id="amount-due-heading"),
                align="center",
                spacing="2",
            ),
            rx.vstack(rx.foreach(S.amount_due, due_item), spacing="4", width="100%"),
            aria_labelledby="amount-due-heading",
            class_name="amount-due-banner",
            display="flex",
            flex_direction="column",
            gap="var(--space-3)",
            width="100%",
            box_sizing="border-box",
            padding="var(--space-4)",
            border_radius="var(--radius-4)",
            border="1px solid var(--amber-a7)",
            border_left=f"4px solid {S.accent}",
            background_color="var(--amber-a2)",
        ),
    )
