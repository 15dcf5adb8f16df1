"""On a subscription card: "Pause payments" (a dialog with an optional resume day), "Resume
payments", and "Add promotion code" (a form that opens inline, its refusal said under the
field). The events are in state/pause_promo.py."""

from __future__ import annotations

from typing import Any

import reflex as rx

from billstack.components.layout import accent_button, dialog_error, label, spinner_while
from billstack.presenters import SubscriptionRow
from billstack.state.portal import PortalState as S


def _card_button(sub: SubscriptionRow, text_key: str, on_click: Any = None, pending_key: str = "") -> rx.Component:
    """A secondary action named with its product for screen readers; no `on_click`: a dialog's trigger."""
    spinner = [spinner_while(S.pending == pending_key + sub.id)] if pending_key else []
    return rx.button(
        *spinner,
        label(text_key),
        type="button",
        variant="outline",
        color_scheme="gray",
        disabled=S.pending != "",
        **({"on_click": on_click} if on_click is not None else {}),
        aria_label=label(text_key) + " – " + sub.product,
    )


def _submit_pause(form: rx.Var) -> Any:
    fields = form.to(dict)
    return S.confirm_pause(fields["sub_id"], fields["resumes_on"])


def pause_dialog(sub: SubscriptionRow) -> rx.Component:
    """Opened in the browser (no round trip); the confirm sends the id and the day in one
    event. It lives in the card while the subscription can be paused, so a pause that went
    through (the row no longer can) closes it, and a refused one leaves it open with why."""
    day = rx.el.label(
        rx.text(label("subs.pause_resume_on"), as_="span", size="2", weight="medium"),
        rx.input(type="date", name="resumes_on", size="3", width="100%"),
        class_name="pause-day",
        style={"display": "flex", "flex_direction": "column", "gap": "var(--space-2)"},
    )
    actions = rx.flex(
        rx.dialog.close(
            rx.button(label("subs.pause_back"), type="button", variant="soft", color_scheme="gray",
                      disabled=S.pending != ""),
        ),
        accent_button(spinner_while(S.pending == "pause:" + sub.id), label("subs.confirm_pause"), type="submit",
                      disabled=S.pending != ""),
        spacing="3",
        justify="end",
        class_name="dialog-actions",
    )
    return rx.dialog.root(
        rx.dialog.trigger(_card_button(sub, "subs.pause")),
        rx.dialog.content(
            rx.dialog.title(S.labels["subs.pause_title"].to(str).replace("{product}", sub.product)),
            rx.el.form(
                rx.flex(
                    rx.dialog.description(label("subs.pause_body")),
                    day,
                    rx.el.input(type="hidden", name="sub_id", value=sub.id),
                    dialog_error(),
                    actions,
                    direction="column",
                    spacing="5",
                ),
                on_submit=_submit_pause,
                reset_on_submit=False,
            ),
            max_width="480px",
        ),
    )


def unpause_button(sub: SubscriptionRow) -> rx.Component:
    return accent_button(
        spinner_while(S.pending == "unpause:" + sub.id),
        label("subs.unpause"),
        disabled=S.pending != "",
        on_click=S.unpause(sub.id),
        aria_label=label("subs.unpause") + " – " + sub.product,
    )


def promo_button(sub: SubscriptionRow) -> rx.Component:
    return rx.cond(S.promo_sub_id != sub.id, _card_button(sub, "promo.add", S.open_promo(sub.id)))


def promo_form(sub: SubscriptionRow) -> rx.Component:
    """The card's promotion code field, Apply and Cancel; Stripe's refusal under the field."""
    refused = S.promo_error != ""
    field = rx.el.label(
        rx.text(label("promo.label"), as_="span", size="2", weight="medium"),
        rx.input(name="code", placeholder=label("promo.placeholder"), auto_complete="off", size="3", width="100%",
                 aria_invalid=rx.cond(refused, "true", "false"),
                 aria_describedby=rx.cond(refused, "promo-error", "")),
        style={"display": "flex", "flex_direction": "column", "gap": "var(--space-2)", "flex": "1 1 12rem"},
    )
    return rx.cond(
        S.promo_sub_id == sub.id,
        rx.el.form(
            rx.flex(
                rx.flex(
                    field,
                    rx.flex(
                        rx.button(label("promo.cancel"), type="button", variant="soft", color_scheme="gray",
                                  disabled=S.pending != "", on_click=S.close_promo),
                        accent_button(spinner_while(S.pending == "promo:" + sub.id), label("promo.apply"),
                                      type="submit", disabled=S.pending != ""),
                        spacing="2",
                    ),
                    spacing="3",
                    align="end",
                    wrap="wrap",
                ),
                rx.cond(refused, rx.text(S.promo_error, id="promo-error", role="alert", size="2", color_scheme="red",
                                         class_name="promo-error")),
                direction="column",
                spacing="2",
            ),
            on_submit=S.apply_promo,
            reset_on_submit=False,
            class_name="promo-form",
            aria_label=label("promo.add"),
            width="100%",
        ),
    )
