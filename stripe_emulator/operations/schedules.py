"""Subscription schedules: phases of items a subscription moves through over time.

A schedule made `from_subscription` starts with one phase, the current period with the
subscription's items. Phases follow each other without gaps; a phase lasts until its
`end_date`, or `iterations` periods of its price. The billing clock enters the next phase at
the renewal that reaches its start: the phase's items replace the subscription's (no
prorations) before the renewal is billed, so the renewal bills the new price. Entering the
last phase ends the schedule by its `end_behavior`: `release` (the subscription carries on
with those items) or `cancel` (the subscription cancels when the phase ends).
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx, changed
from stripe_emulator.ids import new_id
from stripe_emulator.operations.prorations import apply_items, replacing_items
from stripe_emulator.operations.subscriptions import billed_items, current_period
from stripe_emulator.render import render

END_BEHAVIORS = ("release", "cancel")
LIVE = ("not_started", "active")


def new_schedule(ctx: Ctx, sub: dict[str, Any], metadata: dict[str, str]) -> dict[str, Any]:
    """A schedule for `sub`: one phase, its current period with its items; `sub.schedule` set."""
    start, end = current_period(ctx, sub)
    now = ctx.now()
    items = [(b.price, b.quantity) for b in billed_items(ctx, sub)]
    schedule = {
        "id": new_id("sub_sched"),
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "canceled_at": None,
        "completed_at": None,
        "created": now,
        "current_phase": {"end_date": end, "start_date": start},
        "customer": sub["customer"],
        "customer_account": None,
        "default_settings": _default_settings(sub),
        "end_behavior": "release",
        "livemode": False,
        "metadata": metadata,
        "phases": [new_phase(items, start, end, sub["currency"], "create_prorations")],
        "released_at": None,
        "released_subscription": None,
        "status": "active",
        "subscription": sub["id"],
        "test_clock": None,
    }
    ctx.account.add(schedule)
    sub["schedule"] = schedule["id"]
    return schedule


def new_phase(
    items: list[tuple[dict[str, Any], int]], start: int, end: int, currency: str, proration_behavior: str
) -> dict[str, Any]:
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": None,
        "currency": currency,
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "end_date": end,
        "invoice_settings": None,
        "items": [
            {
                "billing_thresholds": None,
                "discounts": [],
                "metadata": {},
                "plan": None,  # rendered from the price
                "price": price["id"],
                "quantity": qty,
                "tax_rates": [],
            }
            for price, qty in items
        ],
        "metadata": {},
        "on_behalf_of": None,
        "proration_behavior": proration_behavior,
        "start_date": start,
        "transfer_data": None,
        "trial_end": None,
    }


def _default_settings(sub: dict[str, Any]) -> dict[str, Any]:
    return {
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": "automatic",
        "billing_thresholds": None,
        "collection_method": sub["collection_method"],
        "default_payment_method": sub["default_payment_method"],
        "description": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "days_until_due": sub["days_until_due"],
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "on_behalf_of": None,
        "transfer_data": None,
    }


def schedule_of(ctx: Ctx, sub: dict[str, Any]) -> dict[str, Any] | None:
    schedule = ctx.account.get("subscription_schedule", sub["schedule"])
    return schedule if schedule is not None and schedule["status"] in LIVE else None


def release(ctx: Ctx, schedule: dict[str, Any], at: int) -> dict[str, Any] | None:
    """End the schedule, leaving the subscription as it is; returns the subscription."""
    schedule.update(status="released", released_at=at, current_phase=None)
    sub = ctx.account.get("subscription", schedule["subscription"])
    schedule["released_subscription"] = schedule["subscription"]
    schedule["subscription"] = None
    if sub is not None:
        sub["schedule"] = None
    ctx.emit("subscription_schedule.released", schedule)
    return sub


def enter_due_phase(ctx: Ctx, sub: dict[str, Any], at: int) -> None:
    """At the renewal `at`: when the next phase starts by then, switch to its items (no
    prorations); entering the last phase ends the schedule by its `end_behavior`."""
    schedule = schedule_of(ctx, sub)
    if schedule is None or schedule["current_phase"] is None:
        return
    current_end = schedule["current_phase"]["end_date"]
    due = [i for i, p in enumerate(schedule["phases"]) if current_end <= p["start_date"] <= at]
    if not due:
        return
    index = due[-1]
    phase = schedule["phases"][index]
    before = render(ctx, sub)
    wanted = [(ctx.account.require("price", it["price"]), it["quantity"]) for it in phase["items"]]
    apply_items(ctx, sub, replacing_items(ctx, sub, wanted), at)
    schedule["current_phase"] = {"end_date": phase["end_date"], "start_date": phase["start_date"]}
    ctx.emit("subscription_schedule.updated", schedule)
    if index == len(schedule["phases"]) - 1:
        _end(ctx, schedule, sub, phase, at)
    ctx.emit("customer.subscription.updated", sub, changed(before, render(ctx, sub)))


def _end(ctx: Ctx, schedule: dict[str, Any], sub: dict[str, Any], phase: dict[str, Any], at: int) -> None:
    """The last phase has begun: `release` hands the subscription back as it is; `cancel`
    completes the schedule and cancels the subscription when the phase ends."""
    if schedule["end_behavior"] == "cancel":
        sub.update(cancel_at=phase["end_date"], canceled_at=at, schedule=None)
        schedule.update(status="completed", completed_at=at, current_phase=None)
        ctx.emit("subscription_schedule.completed", schedule)
        return
    release(ctx, schedule, at)
