"""Plan changes (Stripe's `features.subscription_update`): the prices a customer may switch
to, what a change costs today (Stripe's own invoice preview), the change itself, and a
change deferred to the period end through a subscription schedule.

Each service: feature check → the customer's own live subscription (404 for another
customer's) → the change checked against the project's plan prices and quantity rule →
the connection released → Stripe → the mirror from Stripe's answer → audit → the view.
Nothing changes locally when Stripe fails (a declined upgrade is Stripe's 402, nothing
changed, as `payment_behavior=error_if_incomplete` asks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlmodel import Session

from billstack import stripe_gateway
from billstack.clock import from_unix, utcnow
from billstack.db import release_connection
from billstack.errors import BillStackError, invalid
from billstack.models import PlanPrice, Project, Subscription
from billstack.services import audit
from billstack.services.plan_catalog import (
    QUANTITY_LIMIT,
    SCHEDULE_CONDITIONS,
    plan_prices,
    schedule_conditions,
)
from billstack.services.portal.keys import action_key
from billstack.services.portal.rows import (
    ensure_synced,
    feature_off,
    own_subscription,
    own_subscription_view,
    require_live,
)
from billstack.services.sessions import PortalContext
from billstack.services.sync import apply_subscription
from billstack.services.views import (
    AppliesAt,
    PlanChangePreview,
    PlanList,
    PlanView,
    PreviewLine,
    QuantityRule,
    SubscriptionView,
)

DECREASING_ITEM_AMOUNT, SHORTENING_INTERVAL = SCHEDULE_CONDITIONS
NOTHING_TO_CHANGE = "nothing_to_change"

# Average days per interval (a leap year in four), to compare prices of different intervals.
_DAYS = {"day": Fraction(1), "week": Fraction(7), "month": Fraction(1461, 48), "year": Fraction(1461, 4)}


@dataclass(frozen=True)
class _Change:
    """A checked plan change of one of the customer's live subscriptions."""

    row: Subscription
    plan: PlanPrice
    quantity: int
    applies_at: AppliesAt

    @property
    def resets_cycle(self) -> bool:
        """Stripe starts a new billing period (and bills it at once) when the interval changes."""
        return (self.plan.interval, self.plan.interval_count) != (self.row.interval, self.row.interval_count)


# --- the services -------------------------------------------------------------------------------


def list_plans(db: Session, ctx: PortalContext, subscription_id: str) -> PlanList:
    """The project's plan prices (PlanPrice rows, in order), the subscription's marked
    `current`, and the quantity rule. 403 when plan changes are off; 404 for a
    subscription that is not the customer's."""
    row = _changeable_subscription(db, ctx, subscription_id)
    return PlanList(
        data=[plan_view(plan, current=plan.price_id == row.price_id) for plan in plan_prices(db, ctx.project.id)],
        quantity=quantity_rule(ctx.project),
    )


def preview_plan_change(
    db: Session, ctx: PortalContext, subscription_id: str, price_id: str, quantity: int | None = None
) -> PlanChangePreview:
    """What switching to `price_id` (and `quantity`) costs, from Stripe's invoice preview
    with `proration_date` = now. 400 `param: priceId` for a price the project does not offer,
    `param: quantity` outside the rule."""
    change = _checked_change(db, ctx, subscription_id, price_id, quantity)
    if change.applies_at == "period_end":
        return _period_end_preview(change)
    project, row = ctx.project, change.row
    proration_date = int(utcnow().timestamp())
    item_id = _item_id(row)
    release_connection(db)
    invoice = stripe_gateway.preview_subscription_change(
        project, ctx.customer.stripe_customer_id, row.stripe_id,
        item_id=item_id, price_id=change.plan.price_id, quantity=change.quantity,
        proration_behavior=project.proration_behavior, proration_date=proration_date,
    )
    return _preview_of(invoice, change, project.proration_behavior, proration_date)


def change_plan(
    db: Session,
    ctx: PortalContext,
    subscription_id: str,
    price_id: str,
    quantity: int | None = None,
    *,
    proration_date: int | None = None,
    idempotency_key: str | None = None,
) -> SubscriptionView:
    """Switch now (prorated as the project says; `proration_date` from the preview makes the
    charge equal it; a declined charge is a 402 with nothing changed) or, when a
    `schedule_at_period_end` condition holds, at the period end (the view's `scheduledChange`)."""
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, "subscription.plan_changed", stripe_object_id=subscription_id,
                  detail={"price": price_id, "quantity": quantity})
    try:
        change = _checked_change(db, ctx, subscription_id, price_id, quantity)
    except BillStackError as exc:
        if exc.code == NOTHING_TO_CHANGE and idempotency_key is not None:
            # A client's retry of a change that was made: the first answer again.
            return own_subscription_view(db, customer, subscription_id)
        raise
    row = change.row
    if change.applies_at == "period_end" and (row.scheduled_price_id, row.scheduled_quantity) == (
        change.plan.price_id, change.quantity
    ):
        return own_subscription_view(db, customer, subscription_id)  # already waiting for the period end
    key = action_key(ctx, "sub-plan", row.stripe_id, idempotency_key)
    detail = {"price": change.plan.price_id, "quantity": change.quantity}
    action = "subscription.plan_change_scheduled" if change.applies_at == "period_end" else "subscription.plan_changed"
    audit.attempt(ctx, action, stripe_object_id=row.stripe_id, detail=detail)
    if change.applies_at == "period_end":
        updated = _schedule_at_period_end(db, project, change, key)
    else:
        _check_proration_date(row, proration_date)
        item_id, schedule_id = _item_id(row), row.schedule_id
        release_connection(db)
        updated = stripe_gateway.change_subscription_price(
            project, row.stripe_id, item_id=item_id, price_id=change.plan.price_id, quantity=change.quantity,
            proration_behavior=project.proration_behavior, proration_date=proration_date, key=key,
        )
        if schedule_id:
            # A change waiting for the period end would undo this one then. Released only
            # after the change went through, so a declined card keeps the waiting change;
            # a failed release leaves the mirror as it was and a retry with the same key
            # replays the change and releases again.
            stripe_gateway.release_subscription_schedule(
                project, schedule_id, key=stripe_gateway.idempotency_key(key, "release"))
            updated = stripe_gateway.retrieve_subscription(project, row.stripe_id)
    apply_subscription(db, project, customer, updated)
    audit.record_portal(db, ctx, action, stripe_object_id=row.stripe_id, detail=detail)
    return own_subscription_view(db, customer, subscription_id)


def keep_current_plan(
    db: Session, ctx: PortalContext, subscription_id: str, *, idempotency_key: str | None = None
) -> SubscriptionView:
    """Drop a change waiting for the period end (releases the subscription schedule)."""
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, "subscription.scheduled_change_dropped", stripe_object_id=subscription_id)
    row = _changeable_subscription(db, ctx, subscription_id)
    if row.schedule_id is None or row.scheduled_price_id is None:
        if idempotency_key is not None:  # a client's retry after the change was dropped
            return own_subscription_view(db, customer, subscription_id)
        raise invalid("This subscription has no plan change waiting for the period end.",
                      param="subscriptionId", code="no_scheduled_change")
    key = action_key(ctx, "sub-keep-plan", row.stripe_id, idempotency_key)
    schedule_id, stripe_id = row.schedule_id, row.stripe_id
    release_connection(db)
    stripe_gateway.release_subscription_schedule(project, schedule_id, key=key)
    apply_subscription(db, project, customer, stripe_gateway.retrieve_subscription(project, stripe_id))
    audit.record_portal(db, ctx, "subscription.scheduled_change_dropped", stripe_object_id=stripe_id,
                        detail={"schedule": schedule_id})
    return own_subscription_view(db, customer, subscription_id)


# --- views --------------------------------------------------------------------------------------


def plan_view(plan: PlanPrice, *, current: bool) -> PlanView:
    return PlanView(
        price_id=plan.price_id, product_id=plan.product_id, product_name=plan.product_name,
        description=plan.description, unit_amount=plan.unit_amount, currency=plan.currency,
        interval=plan.interval, interval_count=plan.interval_count, current=current,
    )


def quantity_rule(project: Project) -> QuantityRule:
    return QuantityRule(enabled=project.feature_quantity_change, min=project.quantity_min, max=project.quantity_max)


# --- checks -------------------------------------------------------------------------------------


def _changeable_subscription(db: Session, ctx: PortalContext, subscription_id: str) -> Subscription:
    if not ctx.project.feature_plan_change:
        raise feature_off("Changing plans")
    ensure_synced(db, ctx)
    row = own_subscription(db, ctx.customer, subscription_id)
    require_live(row, "changed")
    if row.stripe_item_id is None or row.price_id is None:
        # Mirrored before plan changes existed: read the subscription's item from Stripe once.
        release_connection(db)
        stripe_sub = stripe_gateway.retrieve_subscription(ctx.project, row.stripe_id)
        apply_subscription(db, ctx.project, ctx.customer, stripe_sub)
        row = own_subscription(db, ctx.customer, subscription_id)
    return row


def _checked_change(
    db: Session, ctx: PortalContext, subscription_id: str, price_id: str, quantity: int | None
) -> _Change:
    project = ctx.project
    row = _changeable_subscription(db, ctx, subscription_id)
    plan = next((p for p in plan_prices(db, project.id) if p.price_id == price_id), None)
    if plan is None:
        raise invalid(f"'{price_id}' is not one of the plans offered here.", param="priceId")
    quantity = _checked_quantity(project, row, quantity)
    if plan.price_id == row.price_id and quantity == row.quantity:
        raise invalid("That is the subscription's plan and quantity already; nothing to change.",
                      param="priceId", code=NOTHING_TO_CHANGE)
    return _Change(row, plan, quantity, _applies_at(project, row, plan, quantity))


def _checked_quantity(project: Project, row: Subscription, quantity: int | None) -> int:
    if quantity is None or quantity == row.quantity:
        return row.quantity
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise invalid("quantity must be a whole number.", param="quantity")
    if not project.feature_quantity_change:
        raise invalid("Changing the quantity is turned off for this portal.", param="quantity",
                      code="quantity_change_disabled")
    ceiling = min(project.quantity_max or QUANTITY_LIMIT, QUANTITY_LIMIT)
    if not project.quantity_min <= quantity <= ceiling:
        raise invalid(f"quantity must be between {project.quantity_min} and {ceiling}.", param="quantity")
    return quantity


def _applies_at(project: Project, row: Subscription, plan: PlanPrice, quantity: int) -> AppliesAt:
    """At the period end when one of the project's `schedule_at_period_end` conditions holds."""
    conditions = set(schedule_conditions(project))
    current_days = _period_days(row.interval, row.interval_count)
    new_days = _period_days(plan.interval, plan.interval_count)
    if SHORTENING_INTERVAL in conditions and current_days and new_days and new_days < current_days:
        return "period_end"
    if DECREASING_ITEM_AMOUNT in conditions and row.unit_amount is not None and current_days and new_days:
        # Per day, so a yearly and a monthly price compare as what they cost over time.
        per_day_now = Fraction(row.unit_amount * row.quantity) / current_days
        if Fraction(plan.unit_amount * quantity) / new_days < per_day_now:
            return "period_end"
    return "now"


def _period_days(interval: str | None, count: int | None) -> Fraction | None:
    days = _DAYS.get(interval or "")
    return days * (count or 1) if days is not None else None


def _check_proration_date(row: Subscription, proration_date: int | None) -> None:
    """A preview's `prorationDate`: inside the current period and not in the future."""
    if proration_date is None:
        return
    start, end = _unix(row.current_period_start), _unix(row.current_period_end)
    now = int(utcnow().timestamp())
    before_period = start is not None and proration_date < start
    if proration_date > now or before_period or (end is not None and proration_date > end):
        raise invalid("prorationDate must be a moment of the current billing period, not in the future "
                      "(use the one the preview returned).", param="prorationDate")


def _item_id(row: Subscription) -> str:
    assert row.stripe_item_id is not None  # _changeable_subscription read it
    return row.stripe_item_id


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


# --- Stripe ---------------------------------------------------------------------------------


def _schedule_at_period_end(db: Session, project: Project, change: _Change, key: str) -> dict[str, Any]:
    """A subscription schedule that applies the change when the current period ends (an
    earlier waiting change is released first: the newest choice wins)."""
    row = change.row
    period_end = _unix(row.current_period_end)
    if period_end is None or row.price_id is None:
        raise invalid("This subscription has no current period to change at the end of.", param="subscriptionId")
    schedule_id, stripe_id = row.schedule_id, row.stripe_id
    current = (row.price_id, row.quantity)
    release_connection(db)
    if schedule_id:
        stripe_gateway.release_subscription_schedule(
            project, schedule_id, key=stripe_gateway.idempotency_key(key, "release"))
    stripe_gateway.schedule_subscription_change(
        project, stripe_id, current=current, new=(change.plan.price_id, change.quantity),
        period_end=period_end, key=key,
    )
    return stripe_gateway.retrieve_subscription(project, stripe_id)


def _period_end_preview(change: _Change) -> PlanChangePreview:
    """Nothing is charged now; the next invoice is the new plan's, at the period end."""
    row, plan = change.row, change.plan
    return PlanChangePreview(
        amount_due=0, currency=plan.currency, proration_date=int(utcnow().timestamp()), lines=[],
        next_amount=plan.unit_amount * change.quantity, next_date=row.current_period_end or utcnow(),
        applies_at="period_end", price_id=plan.price_id, quantity=change.quantity,
    )


def _preview_of(
    invoice: Mapping[str, Any], change: _Change, proration_behavior: str, proration_date: int
) -> PlanChangePreview:
    """Stripe's preview as the customer's answer. The emulator, as Stripe, previews the invoice
    the update creates now for `always_invoice` or a new billing cycle, else the next renewal
    (with the pending prorations for `create_prorations`)."""
    row, plan = change.row, change.plan
    lines = list((invoice.get("lines") or {}).get("data") or [])
    invoiced_now = proration_behavior == "always_invoice" or change.resets_cycle
    shown = lines if invoiced_now else [line for line in lines if _is_proration(line)]
    if proration_behavior == "create_prorations" and not change.resets_cycle:
        next_amount = invoice.get("amount_due") or 0
    else:
        next_amount = plan.unit_amount * change.quantity
    next_date = _new_period_end(lines) if change.resets_cycle else None
    return PlanChangePreview(
        amount_due=(invoice.get("amount_due") or 0) if invoiced_now else 0,
        currency=(invoice.get("currency") or plan.currency).lower(),
        proration_date=proration_date,
        lines=[PreviewLine(description=line.get("description") or "", amount=line.get("amount") or 0)
               for line in shown],
        next_amount=next_amount,
        next_date=next_date or row.current_period_end or utcnow(),
        applies_at="now",
        price_id=plan.price_id,
        quantity=change.quantity,
    )


def _is_proration(line: Mapping[str, Any]) -> bool:
    """`proration` on the line (API versions before 2025-03-31), or on its parent's details."""
    if line.get("proration"):
        return True
    parent = line.get("parent") or {}
    details = ("subscription_item_details", "invoice_item_details")
    return any((parent.get(key) or {}).get("proration") for key in details)


def _new_period_end(lines: list[Mapping[str, Any]]) -> datetime | None:
    """A new billing cycle's end: where the regular (not prorated) lines' period ends."""
    ends = [(line.get("period") or {}).get("end") for line in lines if not _is_proration(line)]
    return from_unix(max(end for end in ends if end)) if any(ends) else None
