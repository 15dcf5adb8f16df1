"""The customer's cards and the 'update payment method' hand-off to Stripe Checkout."""

from __future__ import annotations

import reflex as rx

from billstack.components.layout import accent_button, dialog_error, label, section
from billstack.presenters import CardRow
from billstack.state.portal import PortalState as S


def card_item(card: CardRow) -> rx.Component:
    return rx.hstack(
        rx.icon("credit-card", size=20, aria_hidden="true"),
        rx.vstack(
            rx.text(card.title, weight="medium", size="2"),
            rx.text(card.expiry, size="1", color_scheme="gray", high_contrast=True),
            spacing="0",
            align="start",
        ),
        rx.cond(card.is_default, rx.badge(label("pm.default"), variant="soft", color_scheme="green", high_contrast=True)),
        align="center",
        spacing="3",
        class_name="card-item",
        data_default=rx.cond(card.is_default, "true", "false"),
    )


def update_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(label("pm.update_title")),
            rx.flex(
                rx.dialog.description(label("pm.update_body")),
                # Creating the Checkout session failed: say so here, where the customer is looking.
                dialog_error(),
                rx.flex(
                    rx.dialog.close(
                        rx.button(label("pm.cancel"), variant="soft", color_scheme="gray", disabled=S.pending != "")
                    ),
                    accent_button(
                        rx.cond(S.pending == "pm", rx.spinner(size="1"), rx.fragment()),
                        label("pm.continue"),
                        disabled=S.pending != "",
                        on_click=S.start_pm_update,
                    ),
                    spacing="3",
                    justify="end",
                    class_name="dialog-actions",
                ),
                direction="column",
                spacing="5",
            ),
            max_width="480px",
        ),
        open=S.pm_dialog_open,
        on_open_change=S.set_pm_dialog_open,
    )


def payment_methods_section() -> rx.Component:
    return section(
        "pm.heading",
        rx.card(
            rx.flex(
                rx.cond(
                    S.cards.length() > 0,
                    rx.vstack(rx.foreach(S.cards, card_item), spacing="3"),
                    rx.text(label("pm.empty"), color_scheme="gray", high_contrast=True),
                ),
                rx.cond(
                    S.show_pm_update,
                    rx.button(
                        label("pm.update"),
                        variant="outline",
                        color_scheme="gray",
                        disabled=S.pending != "",
                        on_click=S.set_pm_dialog_open(True),
                    ),
                ),
                justify="between",
                align="center",
                wrap="wrap",
                spacing="3",
            ),
        ),
        update_dialog(),
        section_id="payment-methods",
    )
