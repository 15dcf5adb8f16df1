"""Time travel: advancing an account's clock renews or ends the subscriptions that fall due.

A renewal at period end T opens the next period on every item, then invoices it
(created, finalized and, for `charge_automatically`, charged at T). A declined renewal
leaves the invoice open and the subscription `past_due`. A subscription set to cancel
at period end becomes `canceled` at T instead. First invoices left unpaid for 23 hours
expire the subscription (`incomplete_expired`), as in Stripe. A renewal that reaches the start
of a subscription schedule's next phase first switches to that phase's items.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.operations.customers import verify_pending_tax_ids
from stripe_emulator.operations.schedules import enter_due_phase
from stripe_emulator.operations.subscriptions import (
    bill_period,
    cancel_now,
    current_period,
    items_of,
    price_of,
)
from stripe_emulator.periods import add_interval

INCOMPLETE_EXPIRY = 23 * 3600
_RENEWING = ("active", "trialing", "past_due", "unpaid")


def advance_clock(ctx: Ctx, seconds: int) -> dict[str, Any]:
    ctx.account.clock_offset += seconds
    summary = run_due(ctx)
    summary["tax_ids_verified"] = verify_pending_tax_ids(ctx)
    return summary


def run_due(ctx: Ctx, subs: Iterable[dict[str, Any]] | None = None) -> dict[str, Any]:
    now = ctx.now()
    summary = {"renewed": 0, "canceled": 0, "expired": 0}
    for sub in list(subs if subs is not None else ctx.account.all("subscription")):
        if sub["status"] == "incomplete" and sub["created"] + INCOMPLETE_EXPIRY <= now:
            cancel_now(ctx, sub, at=sub["created"] + INCOMPLETE_EXPIRY, reason="payment_failed")
            sub["status"] = "incomplete_expired"
            summary["expired"] += 1
            continue
        while sub["status"] in _RENEWING:
            end = current_period(ctx, sub)[1]
            resume_due(ctx, sub, min(end, now))
            cancel_at = sub["cancel_at"]
            if cancel_at is not None and cancel_at <= min(end, now):
                cancel_now(ctx, sub, at=cancel_at)
                summary["canceled"] += 1
                break
            if end > now:
                break
            enter_due_phase(ctx, sub, end)
            renew(ctx, sub, end)
            summary["renewed"] += 1
    return summary


def resume_due(ctx: Ctx, sub: dict[str, Any], upto: int) -> None:
    """Collection resumes once the clock reaches `pause_collection.resumes_at` (before a renewal
    at or after it, so that renewal is charged)."""
    pause = sub["pause_collection"]
    if pause is None or pause.get("resumes_at") is None or pause["resumes_at"] > upto:
        return
    sub["pause_collection"] = None
    ctx.emit("customer.subscription.updated", sub, {"pause_collection": pause})


def renew(ctx: Ctx, sub: dict[str, Any], at: int) -> dict[str, Any]:
    items = items_of(ctx, sub)
    old = current_period(ctx, sub)
    rec = price_of(ctx, items[0])["recurring"]
    new_end = add_interval(at, rec["interval"], rec["interval_count"], anchor=sub["billing_cycle_anchor"])
    previous: dict[str, Any] = {"latest_invoice": sub["latest_invoice"]}
    if sub["status"] == "trialing":
        previous["status"] = "trialing"
        sub["status"] = "active"
    for item in items:
        item["current_period_start"], item["current_period_end"] = at, new_end
    inv = bill_period(ctx, sub, (at, new_end), reason="subscription_cycle", at=at, invoice_period=old)
    if (
        inv["status"] == "open"
        and sub["collection_method"] == "charge_automatically"
        and sub["status"] == "active"
    ):
        previous.setdefault("status", "active")
        sub["status"] = "past_due"
    ctx.emit("customer.subscription.updated", sub, previous)
    return inv
