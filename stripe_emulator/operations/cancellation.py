"""Cancelling now with `prorate` / `invoice_now`, as Stripe documents it.

`prorate=true` credits each item's unused time: a negative proration invoice item of
−amount × (e − t) / (e − s) for the current period [s, e) and the cancel time t (per second,
rounded half away from zero, as `prorations` does). `invoice_now=true` bills the pending items
(that credit included) on a final invoice at once; a negative total is not refunded but
credited to the customer's balance (`starting_balance` → `ending_balance`), as Stripe does.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.operations.invoices import build_invoice_item
from stripe_emulator.operations.prorations import prorated
from stripe_emulator.operations.subscriptions import (
    billed_items,
    current_period,
    issue_invoice,
    pending_items,
    period_invoice,
    product_name,
)


def credit_unused_time(ctx: Ctx, sub: dict[str, Any], at: int) -> list[dict[str, Any]]:
    """Store (and return) the credits for the unused rest of the current period."""
    start, end = current_period(ctx, sub)
    if sub["status"] == "trialing" or not start <= at < end:
        return []
    fraction = Fraction(end - at, end - start)
    day = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%d %b %Y")
    out = []
    for billed in billed_items(ctx, sub):
        amount = -prorated(int(billed.price["unit_amount"]) * billed.quantity, fraction)
        if amount == 0:
            continue
        ii = build_invoice_item(
            customer=sub["customer"],
            amount=amount,
            currency=billed.price["currency"],
            description=f"Unused time on {billed.quantity} × {product_name(ctx, billed.price)} after {day}",
            quantity=billed.quantity,
            period=(at, end),
            at=at,
            unit_amount_decimal=str((Decimal(amount) / max(billed.quantity, 1)).normalize()),
            subscription=sub["id"],
            subscription_item=billed.item_id,
            proration=True,
        )
        ctx.account.add(ii)
        ctx.emit("invoiceitem.created", ii)
        out.append(ii)
    return out


def invoice_now(ctx: Ctx, sub: dict[str, Any], at: int) -> dict[str, Any] | None:
    """The final invoice of the subscription's pending items (None when there are none)."""
    pending = pending_items(ctx, sub["id"])
    if not pending:
        return None
    inv = period_invoice(
        ctx,
        sub,
        pending=pending,
        billed=[],
        period=None,
        reason="subscription_update",
        at=at,
        invoice_period=(at, at),
    )
    cus = ctx.account.require("customer", sub["customer"])
    if inv["total"] < 0:
        # Stripe credits a negative invoice to the customer's balance; nothing is due.
        inv["starting_balance"] = cus["balance"]
        cus["balance"] += inv["total"]
        inv["ending_balance"] = cus["balance"]
        inv.update(amount_due=0, amount_remaining=0)
        ctx.emit("customer.updated", cus, {"balance": inv["starting_balance"]})
    return issue_invoice(ctx, sub, inv, pending, at=at)
