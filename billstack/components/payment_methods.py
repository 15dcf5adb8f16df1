"""The customer's cards (make one the default, remove one after a confirmation) and the
'add payment method' hand-off to Stripe Checkout."""

from __future__ import annotations

import reflex as rx

from billstack.components.layout import (
    accent_button,
    destructive_actions,
    destructive_dialog,
    dialog_error,
    label,
    section,
    spinner_while,
)
from billstack.presenters import CardRow
from billstack.state.portal import PortalState as S


def _card_action(card: CardRow, text_key: str, on_click, **props) -> rx.Component:
    """A card's action, named with the card for screen readers ("Remove – Visa ending in 4242")."""
    return rx.button(
        label(text_key),
        variant="outline",
        color_scheme="gray",
        size="2",
        disabled=S.pending != "",
        on_click=on_click,
        aria_label=label(text_key) + " – " + card.title,
        **props,
    )


def card_item(card: CardRow) -> rx.Component:
    return rx.flex(
        rx.hstack(
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
        ),
        rx.hstack(
            rx.cond(
                ~card.is_default,
                _card_action(card, "pm.make_default", S.make_default_card(card.id)),
            ),
            rx.cond(S.show_pm_remove, _card_action(card, "pm.remove", S.open_card_remove(card.id))),
            spacing="2",
            wrap="wrap",
        ),
        justify="between",
        align="center",
        wrap="wrap",
        spacing="3",
        width="100%",
        class_name="card-item",
        data_default=rx.cond(card.is_default, "true", "false"),
        data_payment_method_id=card.id,
    )


def remove_dialog() -> rx.Component:
    # Refused (the default card of a live subscription): the dialog says why.
    return destructive_dialog(
        label("pm.remove_title"),
        rx.alert_dialog.description(S.labels["pm.remove_body"].to(str).replace("{card}", S.card_remove_title)),
        actions=destructive_actions("pm.keep", "pm.confirm_remove", S.pending == "card-remove",
                                    S.confirm_card_remove),
        open=S.card_remove_open,
        on_open_change=S.set_card_remove_open,
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
                        spinner_while(S.pending == "pm"),
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
                    rx.vstack(rx.foreach(S.cards, card_item), spacing="3", width="100%"),
                    rx.text(label("pm.empty"), color_scheme="gray", high_contrast=True),
                ),
                rx.cond(
                    S.show_pm_update,
                    rx.button(
                        rx.icon("plus", size=16, aria_hidden="true"),
                        label("pm.update"),
                        variant="outline",
                        color_scheme="gray",
                        disabled=S.pending != "",
                        on_click=S.set_pm_dialog_open(True),
                    ),
                ),
                direction="column",
                align="start",
                spacing="4",
            ),
        ),
        update_dialog(),
        remove_dialog(),
        section_id="payment-methods",
    )
