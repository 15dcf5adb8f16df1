"""`payment_behavior=pending_if_incomplete`: a change whose immediate charge is declined waits.

The subscription keeps its items; the change's invoice stays open and the change shows in
`pending_update` (`subscription_items` as they will be, `expires_at`). Paying that invoice
applies it (`customer.subscription.pending_update_applied`). The emulator never expires one.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx, changed
from stripe_emulator.operations.invoices import PAID_HOOKS, subscription_id
from stripe_emulator.operations.prorations import Change, issue_now_invoice, store_prorations, switch_items
from stripe_emulator.operations.subscriptions import build_item
from stripe_emulator.render import render

PENDING_UPDATE_LIFETIME = 23 * 3600  # Stripe keeps a pending update open for 23 hours


def apply_pending(ctx: Ctx, change: Change) -> dict[str, Any]:
    """`pending_if_incomplete` when the charge is declined: the items stay as they are, the
    change's invoice stays open and the change waits in `pending_update` until it is paid."""
    sub = change.sub
    store_prorations(ctx, change)
    inv = issue_now_invoice(ctx, change)
    if inv["status"] == "paid":
        switch_items(ctx, change)
        return inv
    start, end = change.next_period if change.reset else change.period
    sub["pending_update"] = {
        "billing_cycle_anchor": start if change.reset else None,
        "discount": None,
        "discounts": [],
        "expires_at": change.at + PENDING_UPDATE_LIFETIME,
        "metadata": None,
        "subscription_items": [
            render(ctx, build_item(sub["id"], b.price, b.quantity, {}, (start, end), change.at, b.item_id))
            for b in change.after
        ],
        "trial_end": None,
        "trial_from_plan": None,
    }
    sub["_pending_update"] = {"invoice": inv["id"], "change": change}
    return inv


def _apply_paid_update(ctx: Ctx, inv: dict[str, Any]) -> None:
    """The invoice of a pending update was paid: the update applies now."""
    sub = ctx.account.get("subscription", subscription_id(inv))
    waiting = sub.get("_pending_update") if sub is not None else None
    if sub is None or waiting is None or waiting["invoice"] != inv["id"]:
        return
    before = render(ctx, sub)
    switch_items(ctx, waiting["change"])
    sub["pending_update"] = None
    del sub["_pending_update"]
    diff = changed(before, render(ctx, sub))
    ctx.emit("customer.subscription.pending_update_applied", sub, diff)
    ctx.emit("customer.subscription.updated", sub, diff)


PAID_HOOKS.append(_apply_paid_update)
