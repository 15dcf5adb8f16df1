"""The plan-change dialog: pick a plan (billing period, quantity), then confirm it with
Stripe's preview of what is due today and what comes next."""

from __future__ import annotations

import reflex as rx

from billstack.components.layout import accent_button, dialog_error, label, spinner_while
from billstack.presenters import CycleChoice, PlanRow, PreviewLineRow
from billstack.state.portal import PortalState as S

BUSY = S.pending != ""
# A change is the other plan, or the same plan at another quantity.
CAN_CONTINUE = (S.plan_choice != "") & (
    (S.plan_choice != S.plan_current_price) | (S.plan_quantity != S.plan_current_quantity)
)


def _cycle_item(choice: CycleChoice) -> rx.Component:
    return rx.segmented_control.item(choice.label, value=choice.key)


def cycle_switch() -> rx.Component:
    """Monthly / yearly, only when the plans come in more than one billing period."""
    return rx.cond(
        S.plan_cycles.length() > 1,
        rx.segmented_control.root(
            rx.foreach(S.plan_cycles, _cycle_item),
            value=S.plan_cycle,
            on_change=S.set_plan_cycle,
            aria_label=label("plans.billing_period"),
            width="100%",
            class_name="plan-cycles",
        ),
    )


def _plan_card(plan: PlanRow) -> rx.Component:
    return rx.cond(
        plan.cycle == S.plan_cycle,
        rx.radio_cards.item(
            rx.flex(
                rx.flex(
                    rx.text(plan.product, weight="bold", size="3"),
                    rx.cond(
                        plan.current,
                        rx.badge(label("plans.current"), variant="soft", color_scheme="gray", high_contrast=True),
                    ),
                    align="center",
                    spacing="2",
                    wrap="wrap",
                ),
                rx.cond(plan.description != "", rx.text(plan.description, size="2", color_scheme="gray", high_contrast=True)),
                rx.text(plan.price, size="2", weight="medium"),
                direction="column",
                spacing="1",
                width="100%",
            ),
            value=plan.price_id,
            # The current plan is no change, unless its quantity can change.
            disabled=plan.current & ~S.plan_quantity_enabled,
            data_price_id=plan.price_id,
            class_name="plan-card",
        ),
    )


def plan_cards() -> rx.Component:
    return rx.radio_cards.root(
        rx.foreach(S.plan_rows, _plan_card),
        value=S.plan_choice,
        on_value_change=S.set_plan_choice,
        columns="1",
        gap="2",
        aria_label=label("plans.list"),
        width="100%",
    )


def quantity_stepper() -> rx.Component:
    """− N +: two labelled buttons around the number, announced when it changes."""
    return rx.cond(
        S.plan_quantity_enabled,
        rx.flex(
            rx.text(label("plans.quantity"), id="plan-quantity-label", size="2", weight="medium"),
            rx.flex(
                rx.icon_button(
                    rx.icon("minus", size=16, aria_hidden="true"),
                    variant="soft",
                    color_scheme="gray",
                    disabled=BUSY | (S.plan_quantity <= S.plan_quantity_min),
                    on_click=S.step_plan_quantity(-1),
                    aria_label=label("plans.quantity_decrease"),
                    title=label("plans.quantity_decrease"),
                ),
                rx.text(
                    S.plan_quantity,
                    size="3",
                    weight="bold",
                    aria_live="polite",
                    class_name="plan-quantity-value",
                    min_width="2.5em",
                    text_align="center",
                ),
                rx.icon_button(
                    rx.icon("plus", size=16, aria_hidden="true"),
                    variant="soft",
                    color_scheme="gray",
                    disabled=BUSY | ((S.plan_quantity_max > 0) & (S.plan_quantity >= S.plan_quantity_max)),
                    on_click=S.step_plan_quantity(1),
                    aria_label=label("plans.quantity_increase"),
                    title=label("plans.quantity_increase"),
                ),
                align="center",
                spacing="2",
            ),
            rx.text(S.plan_quantity_hint, size="1", color_scheme="gray", high_contrast=True),
            direction="column",
            spacing="1",
            role="group",
            aria_labelledby="plan-quantity-label",
            class_name="plan-quantity",
        ),
    )


def _pick_step() -> rx.Component:
    return rx.flex(
        cycle_switch(),
        rx.cond(
            S.plan_rows.length() > 0,
            plan_cards(),
            rx.text(label("plans.none"), color_scheme="gray", high_contrast=True),
        ),
        quantity_stepper(),
        dialog_error(),
        _actions(
            rx.dialog.close(rx.button(label("plans.close"), variant="soft", color_scheme="gray", disabled=BUSY)),
            accent_button(
                spinner_while(S.pending == "plans"),
                label("plans.continue"),
                disabled=BUSY | ~CAN_CONTINUE,
                on_click=S.continue_plan_change,
            ),
        ),
        direction="column",
        spacing="4",
    )


def _preview_line(line: PreviewLineRow) -> rx.Component:
    return _amount_row(line.label, line.amount, class_name=rx.cond(line.credit, "preview-line preview-credit", "preview-line"))


def _amount_row(text: rx.Var | str, amount: rx.Var | str, *, class_name: rx.Var | str, bold: bool = False) -> rx.Component:
    weight = "bold" if bold else "regular"
    return rx.flex(
        rx.text(text, size="2", weight=weight),
        rx.text(amount, size="2", weight=weight, white_space="nowrap"),
        justify="between",
        spacing="3",
        class_name=class_name,
    )


def _confirm_step() -> rx.Component:
    summary = S.plan_summary
    return rx.flex(
        rx.flex(
            rx.text(label("plans.new_plan"), size="1", color_scheme="gray", high_contrast=True),
            rx.text(summary.plan, size="3", weight="bold", class_name="preview-plan"),
            rx.text(summary.price, size="2"),
            direction="column",
            spacing="1",
        ),
        rx.cond(
            summary.scheduled_line != "",
            rx.callout.root(rx.callout.text(summary.scheduled_line), color_scheme="blue", class_name="preview-scheduled"),
        ),
        rx.flex(
            rx.foreach(S.plan_lines, _preview_line),
            rx.separator(size="4"),
            _amount_row(label("plans.due_today"), summary.due_today, class_name="preview-due", bold=True),
            direction="column",
            spacing="2",
            class_name="preview-lines",
        ),
        rx.text(summary.next_line, size="2", color_scheme="gray", high_contrast=True, class_name="preview-next"),
        dialog_error(),
        _actions(
            rx.button(label("plans.back"), variant="soft", color_scheme="gray", disabled=BUSY, on_click=S.back_to_plans),
            accent_button(
                spinner_while(S.pending == "plans"),
                label("plans.confirm"),
                disabled=BUSY,
                on_click=S.confirm_plan_change,
            ),
        ),
        direction="column",
        spacing="4",
    )


def _loading_step() -> rx.Component:
    return rx.flex(
        rx.flex(rx.spinner(size="2"), rx.text(label("plans.loading"), size="2"), align="center", spacing="2", role="status"),
        dialog_error(),
        _actions(rx.dialog.close(rx.button(label("plans.close"), variant="soft", color_scheme="gray"))),
        direction="column",
        spacing="4",
    )


def _actions(*buttons: rx.Component) -> rx.Component:
    return rx.flex(*buttons, spacing="3", justify="end", class_name="dialog-actions")


def plan_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(S.plan_step == "confirm", label("plans.confirm_title"), label("plans.title"))),
            rx.dialog.description(
                S.labels["plans.current_is"].to(str).replace("{plan}", S.plan_current_product),
                size="2",
                color_scheme="gray",
                high_contrast=True,
            ),
            rx.box(
                rx.match(S.plan_step, ("confirm", _confirm_step()), ("loading", _loading_step()), _pick_step()),
                padding_top="var(--space-4)",
            ),
            max_width="520px",
            class_name="plan-dialog",
        ),
        open=S.plan_dialog_open,
        on_open_change=S.set_plan_dialog_open,
    )
