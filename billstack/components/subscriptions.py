"""Subscription cards, the cancel dialog (with the retention offer) and the plan-change dialog."""

from __future__ import annotations

from typing import Any

import reflex as rx

from billstack.components.layout import (
    accent_button,
    destructive_actions,
    destructive_content,
    label,
    section,
    spinner_while,
)
from billstack.components.pause_promo import pause_dialog, promo_button, promo_form, unpause_button
from billstack.components.plans import plan_dialog
from billstack.presenters import SubscriptionRow
from billstack.services.portal.cancel import CANCEL_COMMENT_MAX
from billstack.services.views import CANCEL_REASONS
from billstack.state.portal import PortalState as S


def _outline_action(sub: SubscriptionRow, text_key: str, on_click: Any = None, pending_key: str = "") -> rx.Component:
    """A secondary action on a subscription card, named with its product for screen readers;
    `pending_key` shows a spinner while that action runs; no `on_click`: a dialog's trigger."""
    spinner = [spinner_while(S.pending == pending_key + sub.id)] if pending_key else []
    return rx.button(
        *spinner,
        label(text_key),
        variant="outline",
        color_scheme="gray",
        disabled=S.pending != "",
        **({"on_click": on_click} if on_click is not None else {}),
        aria_label=label(text_key) + " – " + sub.product,
    )


def subscription_card(sub: SubscriptionRow) -> rx.Component:
    busy = S.pending != ""
    actions = rx.hstack(
        rx.cond(sub.can_change_plan, _outline_action(sub, "subs.update_plan", S.open_plan_picker(sub.id))),
        rx.cond(sub.can_keep_plan, _outline_action(sub, "subs.keep_plan", S.keep_current_plan(sub.id), "keep:")),
        rx.cond(sub.can_add_promotion_code, promo_button(sub)),
        rx.cond(sub.can_pause, pause_dialog(sub)),
        rx.cond(sub.can_unpause, unpause_button(sub)),
        rx.cond(sub.can_cancel, cancel_dialog(sub)),
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
                rx.cond(sub.discount_line != "", rx.text(sub.discount_line, size="2", class_name="discount-line")),
                rx.cond(
                    sub.pause_line != "",
                    rx.text(sub.pause_line, size="2", weight="medium", class_name="pause-line"),
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
        rx.cond(sub.can_add_promotion_code, promo_form(sub)),
        class_name="subscription-card",
        width="100%",
        data_subscription_id=sub.id,
    )


def _submit_cancel(form: rx.Var) -> Any:
    fields = form.to(dict)
    return S.confirm_cancel(fields["sub_id"], fields["reason"], fields["comment"])


def _cancel_body(sub: SubscriptionRow) -> rx.Component:
    """What a cancel does, as the project's mode says: at the period end, or now (with a credit)."""
    return rx.alert_dialog.description(
        rx.cond(
            S.cancel_now,
            rx.cond(S.cancel_prorated, label("subs.cancel_body_now_prorated"), label("subs.cancel_body_now")),
            S.labels["subs.cancel_body"].to(str).replace("{date}", sub.period_end),
        )
    )


def _cancel_confirm(sub: SubscriptionRow) -> rx.Component:
    reasons = rx.radio_group.root(
        # The project's offered reasons only (a reason not offered is refused by the service).
        *[
            rx.cond(S.cancel_reasons.contains(reason),
                    rx.radio_group.item(label(f"subs.reason.{reason}"), value=reason))
            for reason in CANCEL_REASONS
        ],
        # Uncontrolled, submitted with the form; the content unmounts on close, so each
        # opening starts with nothing chosen.
        name="reason",
        aria_label=label("subs.cancel_reason"),
    )
    busy = S.pending == "cancel:" + sub.id
    # A failed cancel says why inside the dialog: the modal hides the page's own notice (from
    # screen readers too) while it is open.
    return destructive_content(
        S.labels["subs.cancel_title"].to(str).replace("{product}", sub.product),
        _cancel_body(sub),
        rx.cond(
            S.cancel_reasons.length() > 0,
            rx.flex(
                rx.text(label("subs.cancel_reason"), as_="div", size="2", weight="medium"),
                reasons,
                direction="column",
                spacing="2",
                class_name="cancel-reasons",
            ),
        ),
        rx.el.label(
            rx.text(label("subs.cancel_comment"), as_="div", size="2", weight="medium"),
            rx.text_area(name="comment", max_length=CANCEL_COMMENT_MAX, rows="3", width="100%"),
            class_name="cancel-comment",
        ),
        # The form's submit handler is shared by every card (a hook outside the rows), so
        # the row's id rides in the form rather than in the handler.
        rx.el.input(type="hidden", name="sub_id", value=sub.id),
        actions=rx.cond(
            S.cancel_now,
            destructive_actions("subs.keep", "subs.confirm_cancel_now", busy, submit=True),
            destructive_actions("subs.keep", "subs.confirm_cancel", busy, submit=True),
        ),
        on_submit=_submit_cancel,
    )


def _retention_offer(sub: SubscriptionRow) -> rx.Component:
    """The offer before the confirm: accept applies the coupon (and closes the dialog)."""
    return rx.alert_dialog.content(
        rx.alert_dialog.title(label("retain.title")),
        rx.flex(
            rx.alert_dialog.description(S.labels["retain.body"].to(str).replace("{product}", sub.product)),
            rx.text(S.retention_text, size="4", weight="bold", class_name="retention-terms"),
            rx.flex(
                rx.button(label("retain.decline"), type="button", variant="soft", color_scheme="gray",
                          disabled=S.pending != "", on_click=S.decline_retention(sub.id)),
                rx.alert_dialog.action(
                    accent_button(label("retain.accept"), type="button", disabled=S.pending != "",
                                  on_click=S.accept_retention(sub.id)),
                ),
                spacing="3",
                justify="end",
                wrap="wrap",
                class_name="dialog-actions",
            ),
            direction="column",
            spacing="5",
        ),
        max_width="480px",
    )


def cancel_dialog(sub: SubscriptionRow) -> rx.Component:
    """The card's "Cancel subscription" button and its dialog, opened in the browser (no round
    trip); the confirm sends the id, the chosen reason and the comment in one event. When the
    project's retention offer applies to the subscription, the dialog shows it first (accept:
    one event; "No thanks": on to the confirm). The dialog is in the card while it can be
    cancelled, so a confirmed cancel (the row no longer can) closes it, and a failed one
    leaves it open with its message."""
    offered = S.retention_sub_ids.contains(sub.id)
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(_outline_action(sub, "subs.cancel")),
        rx.cond(
            offered,
            rx.cond(S.retention_declined.contains(sub.id), _cancel_confirm(sub), _retention_offer(sub)),
            _cancel_confirm(sub),
        ),
        # A `subscription_cancel` flow opens it at load; closing it unconfirmed leaves the flow.
        default_open=S.cancel_dialog_open & (S.cancel_sub_id == sub.id),
        on_open_change=S.flow_dialog_changed,
    )


def subscriptions_section() -> rx.Component:
    return section(
        "subs.heading",
        rx.cond(
            S.subscriptions.length() > 0,
            rx.vstack(rx.foreach(S.subscriptions, subscription_card), spacing="3", width="100%"),
            rx.text(label("subs.empty"), color_scheme="gray", high_contrast=True),
        ),
        plan_dialog(),
        section_id="subscriptions",
    )
