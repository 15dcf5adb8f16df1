"""Writes on subscriptions (each with the caller's idempotency key): cancel, resume, retain,
pause, promotion codes, default card, plan changes and their schedules. Each answer is the
subscription as it is now (expanded as the mirror reads it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from billstack.errors import BillStackError
from billstack.models import Project
from billstack.stripe_gateway import core


def set_cancel_at_period_end(
    project: Project,
    subscription_id: str,
    cancel: bool,
    *,
    key: str,
    feedback: str | None = None,
    comment: str | None = None,
) -> core.StripeDict:
    params: dict[str, Any] = {"cancel_at_period_end": cancel, "expand": core.SUBSCRIPTION_EXPAND}
    details = {k: v for k, v in (("feedback", feedback), ("comment", comment)) if v}
    if cancel and details:
        params["cancellation_details"] = details
    return _update_subscription(project, subscription_id, params, key)


def cancel_subscription_now(
    project: Project, subscription_id: str, *, prorate: bool, key: str, feedback: str | None = None,
    comment: str | None = None,
) -> core.StripeDict:
    """End it now (DELETE /v1/subscriptions/{id}; no resume). A prorated credit is invoiced at once
    (`invoice_now`): nothing renews to carry a pending item, so it goes to the customer's balance."""
    params: dict[str, Any] = {"prorate": prorate, "expand": core.SUBSCRIPTION_EXPAND}
    params.update({"invoice_now": True} if prorate else {})
    if details := {k: v for k, v in (("feedback", feedback), ("comment", comment)) if v}:
        params["cancellation_details"] = details
    client = core.client_for(project)
    canceled = core.call(lambda: client.v1.subscriptions.cancel(subscription_id, params, {"idempotency_key": key}))
    expand: dict[str, Any] = {"expand": core.SUBSCRIPTION_EXPAND}
    return core.current(canceled, lambda: client.v1.subscriptions.retrieve(subscription_id, expand))


def apply_retention_coupon(project: Project, subscription_id: str, coupon_id: str, *, key: str) -> core.StripeDict:
    """The retention offer accepted: the coupon as the discount, a scheduled cancel undone."""
    params = {"discounts": [{"coupon": coupon_id}], "cancel_at_period_end": False, "expand": core.SUBSCRIPTION_EXPAND}
    return _update_subscription(project, subscription_id, params, key)


def set_pause_collection(project: Project, subscription_id: str, pause: dict[str, Any] | None, *, key: str) -> core.StripeDict:
    """Pause collection (`pause`: `behavior`, optional `resumes_at`), or resume it (None: Stripe
    clears `pause_collection` when sent "")."""
    params = {"pause_collection": pause or "", "expand": core.SUBSCRIPTION_EXPAND}
    return _update_subscription(project, subscription_id, params, key)


def apply_promotion_code(project: Project, subscription_id: str, promotion_code_id: str, *, key: str) -> core.StripeDict:
    """The code's coupon replaces the subscription's discount. Stripe's refusal (inactive, expired,
    used up, first-time customers only) is about what the customer typed: theirs to read."""
    params = {"discounts": [{"promotion_code": promotion_code_id}], "expand": core.SUBSCRIPTION_EXPAND}
    try:
        return _update_subscription(project, subscription_id, params, key)
    except BillStackError as exc:
        if exc.status != 400:
            raise
        raise dataclasses.replace(exc, param="code", for_customers=True) from exc


def set_subscription_default_payment_method(
    project: Project, subscription_id: str, payment_method_id: str, *, key: str
) -> core.StripeDict:
    params: dict[str, Any] = {"default_payment_method": payment_method_id, "expand": core.SUBSCRIPTION_EXPAND}
    return _update_subscription(project, subscription_id, params, key)


def _update_subscription(
    project: Project, subscription_id: str, params: dict[str, Any], key: str
) -> core.StripeDict:
    client = core.client_for(project)
    updated = core.call(lambda: client.v1.subscriptions.update(subscription_id, params, {"idempotency_key": key}))
    expand: dict[str, Any] = {"expand": core.SUBSCRIPTION_EXPAND}
    return core.current(updated, lambda: client.v1.subscriptions.retrieve(subscription_id, expand))


def preview_subscription_change(
    project: Project,
    stripe_customer_id: str,
    subscription_id: str,
    *,
    item_id: str,
    price_id: str,
    quantity: int,
    proration_behavior: str,
    proration_date: int,
) -> core.StripeDict:
    """Stripe's invoice preview for switching one item (`POST /v1/invoices/create_preview`):
    with `always_invoice` the invoice the change creates now; otherwise the next invoice,
    with the prorations `create_prorations` leaves for it."""
    params: dict[str, Any] = {
        "customer": stripe_customer_id,
        "subscription": subscription_id,
        "subscription_details": {
            "items": [{"id": item_id, "price": price_id, "quantity": quantity}],
            "proration_behavior": proration_behavior,
            "proration_date": proration_date,
        },
    }
    client = core.client_for(project)
    return core.plain(core.call(lambda: client.v1.invoices.create_preview(params)))


def change_subscription_price(
    project: Project,
    subscription_id: str,
    *,
    item_id: str,
    price_id: str,
    quantity: int,
    proration_behavior: str,
    proration_date: int | None,
    key: str,
) -> core.StripeDict:
    """Switch one item's price and quantity now. `error_if_incomplete`: a declined charge is a
    CardError (402) and Stripe leaves the subscription as it was."""
    params: dict[str, Any] = {
        "items": [{"id": item_id, "price": price_id, "quantity": quantity}],
        "proration_behavior": proration_behavior,
        "payment_behavior": "error_if_incomplete",
        "expand": core.SUBSCRIPTION_EXPAND,
    }
    if proration_date is not None:
        params["proration_date"] = proration_date
    return _update_subscription(project, subscription_id, params, key)


def schedule_subscription_change(
    project: Project,
    subscription_id: str,
    *,
    current: tuple[str, int],
    new: tuple[str, int],
    period_end: int,
    key: str,
) -> core.StripeDict:
    """Apply (price, quantity) `new` at `period_end`: a subscription schedule made from the
    subscription, its first phase (`current`) ending then and a second phase of one period,
    after which the schedule releases the subscription. Returns the schedule."""
    client = core.client_for(project)
    schedule = core.call(lambda: client.v1.subscription_schedules.create(
        {"from_subscription": subscription_id}, {"idempotency_key": core.idempotency_key(key, "create")}))
    phases = [
        {"items": [{"price": current[0], "quantity": current[1]}],
         "start_date": schedule.phases[0].start_date, "end_date": period_end},
        {"items": [{"price": new[0], "quantity": new[1]}], "iterations": 1},
    ]
    params: dict[str, Any] = {"phases": phases, "end_behavior": "release", "proration_behavior": "none"}
    return core.plain(core.call(lambda: client.v1.subscription_schedules.update(
        schedule.id, params, {"idempotency_key": core.idempotency_key(key, "phases")})))


def release_subscription_schedule(project: Project, schedule_id: str, *, key: str) -> core.StripeDict:
    """End the schedule and leave the subscription as it is now (keeps the current plan)."""
    client = core.client_for(project)
    return core.plain(core.call(lambda: client.v1.subscription_schedules.release(schedule_id, {}, {"idempotency_key": key})))
