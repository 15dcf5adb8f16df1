"""Plan changes on the portal page: the picker, the confirmation with Stripe's preview, the
change itself, and keeping the current plan when a change waits for the period end.

A state mixin of `PortalState` (state/portal.py), so its handlers share the page's token
checks (`_run`), notices (`_show_failure`) and the one `pending` lock that disables every
action button while something is in flight. Thin like the rest: the services decide what
may change and what it costs (services/portal/plans.py); presenters format it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from billstack import presenters
from billstack.i18n import format_day, t
from billstack.services.portal import plans as plan_service
from billstack.services.portal_calls import Work
from billstack.services.sessions import FLOW_SUBSCRIPTION_UPDATE, FLOW_SUBSCRIPTION_UPDATE_CONFIRM
from billstack.services.views import PlanChangePreview, PlanList, PlanView, SubscriptionView
from billstack.state.arguments import well_formed_subscription_id

PICK, CONFIRM, LOADING = "pick", "confirm", "loading"
# The deep links that end with a plan change (or with the dialog closed).
_PLAN_FLOWS = (FLOW_SUBSCRIPTION_UPDATE, FLOW_SUBSCRIPTION_UPDATE_CONFIRM)


class PlanChangeMixin(rx.State, mixin=True):
    plan_dialog_open: bool = False
    plan_step: str = PICK  # loading | pick | confirm
    plan_sub_id: str = ""
    plan_current_product: str = ""
    plan_current_price: str = ""  # the subscription's price id now
    plan_current_quantity: int = 1
    plan_rows: list[presenters.PlanRow] = []
    plan_cycles: list[presenters.CycleChoice] = []
    plan_cycle: str = ""
    plan_choice: str = ""  # the chosen price id
    plan_quantity: int = 1
    plan_quantity_enabled: bool = False
    plan_quantity_min: int = 1
    plan_quantity_max: int = 0  # 0: no maximum
    plan_quantity_hint: str = ""
    plan_summary: presenters.PreviewSummary = presenters.PreviewSummary()
    plan_lines: list[presenters.PreviewLineRow] = []

    # Backend only: the plans as the service described them, and the preview being confirmed
    # (its proration date makes the charge equal what the customer saw).
    _plans: list[PlanView] = []
    _plan_proration_date: int = 0

    # --- the picker ------------------------------------------------------------------------

    @rx.event
    async def open_plan_picker(self, sub_id: str) -> AsyncIterator[Any]:
        async for update in self._load_plans(sub_id):
            yield update

    @rx.event
    async def open_plan_confirm(self, sub_id: str, price_id: str, quantity: int) -> AsyncIterator[Any]:
        """A `subscription_update_confirm` deep link: straight to the confirmation (0: same quantity)."""
        async for update in self._load_plans(sub_id):
            yield update
        if not self.plan_dialog_open or self.plan_step != PICK:
            return
        self.set_plan_choice(price_id)
        if isinstance(quantity, int) and quantity > 0:
            self.plan_quantity = quantity
        async for update in self.continue_plan_change():
            yield update

    @rx.event
    async def set_plan_dialog_open(self, value: bool) -> AsyncIterator[Any]:
        if not self.pending and isinstance(value, bool):
            self.plan_dialog_open = value
            if not value:  # closed by the customer: a plan-change deep link ends unfinished
                async for update in self._end_flow(False, *_PLAN_FLOWS):
                    yield update

    @rx.event
    def set_plan_cycle(self, value: str | list[str]) -> None:
        if isinstance(value, str) and any(c.key == value for c in self.plan_cycles):
            self.plan_cycle = value

    @rx.event
    def set_plan_choice(self, price_id: str) -> None:
        """Only a listed plan; the current one only when the quantity can change instead."""
        row = next((r for r in self.plan_rows if r.price_id == price_id), None)
        if row is not None and (not row.current or self.plan_quantity_enabled):
            self.plan_choice = price_id
            self.plan_cycle = row.cycle

    @rx.event
    def step_plan_quantity(self, delta: int) -> None:
        if not self.plan_quantity_enabled or delta not in (-1, 1):
            return
        low, high, now = self.plan_quantity_min, self.plan_quantity_max, self.plan_quantity
        if (delta < 0 and now <= low) or (delta > 0 and high and now >= high):
            return
        # Clamped: a quantity from before the rule changed steps straight back into its range.
        self.plan_quantity = max(low, min(now + delta, high or now + delta))

    # --- the confirmation ------------------------------------------------------------------

    @rx.event
    async def continue_plan_change(self) -> AsyncIterator[Any]:
        plan = self._chosen_plan()
        if self.pending or plan is None:
            return
        sub_id, quantity = self.plan_sub_id, self._quantity_asked()
        self.pending, self.notice = "plans", ""
        yield
        try:
            preview: PlanChangePreview = await self._run(
                lambda db, ctx: plan_service.preview_plan_change(db, ctx, sub_id, plan.price_id, quantity),
                work=Work.STRIPE_READ,
            )
            label = presenters.plan_label(plan.product_name, preview.quantity, self.locale)
            self.plan_summary = presenters.preview_summary(preview, plan, self.locale)
            self.plan_lines = presenters.preview_lines(
                preview, current_product=self.plan_current_product, new_plan=label, locale=self.locale
            )
            self._plan_proration_date = preview.proration_date
            self.plan_step = CONFIRM
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""

    @rx.event
    def back_to_plans(self) -> None:
        if not self.pending:
            self.plan_step, self.notice = PICK, ""

    @rx.event
    async def confirm_plan_change(self) -> AsyncIterator[Any]:
        plan = self._chosen_plan()
        if self.pending or plan is None or self.plan_step != CONFIRM:
            return
        sub_id, quantity, proration_date = self.plan_sub_id, self._quantity_asked(), self._plan_proration_date or None
        self.pending, self.notice = "plans", ""
        yield
        try:
            updated: SubscriptionView = await self._run(
                lambda db, ctx: plan_service.change_plan(
                    db, ctx, sub_id, plan.price_id, quantity, proration_date=proration_date
                ),
                work=Work.ACTION,
            )
            self._replace_subscription_row(updated)
            self._set_notice(self._plan_changed_notice(updated, plan), "green")
            self.plan_dialog_open = False
        except Exception as exc:  # noqa: BLE001 - a declined card's message shows in the dialog
            self._show_failure(exc)
            return
        finally:
            self.pending = ""
        # A plan-change deep link is done: its afterCompletion follows.
        async for update in self._end_flow(True, *_PLAN_FLOWS):
            yield update

    # --- a change waiting for the period end -------------------------------------------------

    @rx.event
    async def keep_current_plan(self, sub_id: str) -> AsyncIterator[Any]:
        if self.pending or not well_formed_subscription_id(sub_id, "keep_current_plan"):
            return
        self.pending, self.notice = f"keep:{sub_id}", ""
        yield
        try:
            updated: SubscriptionView = await self._run(
                lambda db, ctx: plan_service.keep_current_plan(db, ctx, sub_id), work=Work.ACTION
            )
            row = self._replace_subscription_row(updated)
            self._set_notice(t(self.locale, "subs.plan_kept_notice", plan=row.product), "green")
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""

    # --- helpers ---------------------------------------------------------------------------

    async def _load_plans(self, sub_id: str) -> AsyncIterator[Any]:
        """Open the dialog at once (loading), then fill it with the service's plans."""
        if self.pending or not well_formed_subscription_id(sub_id, "open_plan_picker"):
            return
        row = next((s for s in self.subscriptions if s.id == sub_id), None)
        if row is None or not row.can_change_plan:
            return
        self.plan_sub_id, self.plan_current_product = row.id, row.product
        self.plan_current_price, self.plan_current_quantity = row.price_id, row.quantity_value
        self.plan_choice, self.plan_quantity, self.plan_rows = "", row.quantity_value, []
        self.plan_step, self.plan_dialog_open = LOADING, True
        self.pending, self.notice = "plans", ""
        yield
        try:
            plans = await self._run(lambda db, ctx: plan_service.list_plans(db, ctx, sub_id), work=Work.MIRROR)
        except Exception as exc:  # noqa: BLE001 - the dialog says why (see dialog_error)
            self._show_failure(exc)
            self.pending = ""
            return
        self._show_plans(plans)
        self.pending = ""

    def _show_plans(self, plans: PlanList) -> None:
        rule = plans.quantity
        self._plans = list(plans.data)
        self.plan_rows = presenters.plan_rows(plans, self.locale)
        self.plan_cycles = presenters.cycle_choices(plans, self.locale)
        current = next((r for r in self.plan_rows if r.current), None)
        self.plan_cycle = current.cycle if current else (self.plan_cycles[0].key if self.plan_cycles else "")
        self.plan_quantity_enabled, self.plan_quantity_min = rule.enabled, rule.min
        # The current plan starts chosen when its quantity can change (the change may be just that).
        self.plan_choice = current.price_id if current and rule.enabled else ""
        self.plan_quantity_max = rule.max or 0
        self.plan_quantity_hint = (
            t(self.locale, "plans.quantity_range", min=rule.min, max=rule.max)
            if rule.max
            else t(self.locale, "plans.quantity_at_least", min=rule.min)
        )
        self.plan_step = PICK

    def _chosen_plan(self) -> PlanView | None:
        return next((p for p in self._plans if p.price_id == self.plan_choice), None)

    def _quantity_asked(self) -> int | None:
        return self.plan_quantity if self.plan_quantity_enabled else None

    def _replace_subscription_row(self, updated: SubscriptionView) -> presenters.SubscriptionRow:
        row = presenters.subscription_row(
            updated, self.locale, allow_cancel=self.show_cancel, allow_resume=self.show_resume,
            allow_plan_change=self.show_plan_change, allow_pause=self.show_pause,
            allow_promotion_code=self.show_promotion_code,
        )
        self.subscriptions = [row if s.id == row.id else s for s in self.subscriptions]
        return row

    def _plan_changed_notice(self, updated: SubscriptionView, plan: PlanView) -> str:
        waiting = updated.scheduled_change
        if waiting is not None:
            return t(self.locale, "subs.plan_scheduled_notice",
                     plan=presenters.plan_label(waiting.product_name, waiting.quantity, self.locale),
                     date=format_day(waiting.at, self.locale))
        return t(self.locale, "subs.plan_changed_notice",
                 plan=presenters.plan_label(plan.product_name, updated.quantity, self.locale))
