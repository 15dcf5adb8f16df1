"""Subscription cards, the cancel-at-period-end dialog and the plan-change dialog."""

from __future__ import annotations

from typing import Any

import reflex as rx

from billstack.components.layout import (
    accent_button,
    destructive_actions,
    destructive_dialog,
    label,
    section,
    spinner_while,
)
from billstack.components.plans import plan_dialog
from billstack.presenters import SubscriptionRow
from billstack.services.views import CANCEL_REASONS
from billstack.state.portal import PortalState as S


def _outline_action(sub: SubscriptionRow, text_key: str, on_click: Any, pending_key: str = "") -> rx.Component:
    """A secondary action on a subscription card, named with its product for screen readers;
    `pending_key` shows a spinner while that action runs."""
    spinner = [spinner_while(S.pending == pending_key + sub.id)] if pending_key else []
    return rx.button(
        *spinner,
        label(text_key),
        variant="outline",
        color_scheme="gray",
        disabled=S.pending != "",
        on_click=on_click,
        aria_label=label(text_key) + " – " + sub.product,
    )


def subscription_card(sub: SubscriptionRow) -> rx.Component:
    busy = S.pending != ""
    actions = rx.hstack(
        rx.cond(sub.can_change_plan, _outline_action(sub, "subs.update_plan", S.open_plan_picker(sub.id))),
        rx.cond(sub.can_keep_plan, _outline_action(sub, "subs.keep_plan", S.keep_current_plan(sub.id), "keep:")),
        rx.cond(sub.can_cancel, _outline_action(sub, "subs.cancel", S.open_cancel(sub.id))),
        rx.cond(
            sub.can_resume,
            accent_button(
                spinner_while(S.pending == "resume:" + sub.id),
                label("subs.resume"),
                disabled=busy,
                on_click=S.resume(sub.id),
                aria_label=label("subs.resume") + " – " + sub.product,
            ),
        ),
        spacing="2",
        wrap="wrap",
    )
    return rx.card(
        rx.flex(
            rx.vstack(
                rx.hstack(
                    rx.heading(sub.product, as_="h3", size="3"),
                    rx.badge(sub.status_label, color_scheme=sub.status_color, variant="soft", high_contrast=True),
                    align="center",
                    spacing="2",
                    wrap="wrap",
                ),
                rx.text(
                    sub.price,
                    rx.cond(sub.quantity != "", rx.text.span(" · ", sub.quantity)),
                    size="3",
                    weight="medium",
                ),
                rx.text(sub.period_line, size="2", color_scheme="gray", high_contrast=True, class_name="period-line"),
                rx.cond(
                    sub.next_payment != "",
                    rx.text(sub.next_payment, size="2", class_name="next-payment"),
                ),
                rx.cond(
                    sub.scheduled_line != "",
                    rx.text(sub.scheduled_line, size="2", weight="medium", class_name="scheduled-line"),
                ),
                spacing="1",
                align="start",
            ),
            actions,
            justify="between",
            align="center",
            wrap="wrap",
            spacing="3",
        ),
        class_name="subscription-card",
        width="100%",
        data_subscription_id=sub.id,
    )


def cancel_dialog() -> rx.Component:
    reasons = rx.radio_group.root(
        *[
            rx.radio_group.item(
                label(f"subs.reason.{reason}"),
                value=reason,
            )
            for reason in CANCEL_REASONS
        ],
        # Uncontrolled: the choice shows at once, without a server round trip; the dialog's
        # content unmounts on close, so each opening starts with nothing chosen.
        default_value="",
        on_change=S.set_cancel_reason,
        aria_label=label("subs.cancel_reason"),
    )
    # A failed cancel says why inside the dialog: the modal hides the page's own notice (from
    # screen readers too) while it is open.
    return destructive_dialog(
        S.labels["subs.cancel_title"].to(str).replace("{product}", S.cancel_product),
        rx.alert_dialog.description(S.labels["subs.cancel_body"].to(str).replace("{date}", S.cancel_end)),
        rx.flex(
            rx.text(label("subs.cancel_reason"), as_="div", size="2", weight="medium"),
            reasons,
            direction="column",
            spacing="2",
            class_name="cancel-reasons",
        ),
        actions=destructive_actions("subs.keep", "subs.confirm_cancel", S.pending.to(str).startswith("cancel:"),
                                    S.confirm_cancel),
        open=S.cancel_dialog_open,
        on_open_change=S.set_cancel_dialog_open,
    )


def subscriptions_section() -> rx.Component:
    return section(
        "subs.heading",
        rx.cond(
            S.subscriptions.length() > 0,
            rx.vstack(rx.foreach(S.subscriptions, subscription_card), spacing="3", width="100%"),
            rx.text(label("subs.empty"), color_scheme="gray", high_contrast=True),
        ),
        cancel_dialog(),
        plan_dialog(),
        section_id="subscriptions",
    )
