"""Subscription mechanics the API and the billing clock share: items and their prices, the
current period, creating a subscription, billing one period, ending one now.

At this API version the billing period lives on each item (`current_period_start/end`);
all items of a subscription share one interval, so they share one period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid
from stripe_emulator.ids import new_id
from stripe_emulator.operations.discounts import after_invoiced, invoice_coupons
from stripe_emulator.money import format_amount
from stripe_emulator.operations.invoices import (
    attempt_payment,
    build_invoice,
    finalize,
    invoice_item_line,
    item_subscription,
    new_line,
    store_invoice,
)
from stripe_emulator.wire import take_int, take_str


def items_of(ctx: Ctx, sub: dict[str, Any]) -> list[dict[str, Any]]:
    return [ctx.account.objects[i] for i in sub["_items"]]


def price_of(ctx: Ctx, item: dict[str, Any]) -> dict[str, Any]:
    return ctx.account.objects[item["_price"]]


def resolve_price(ctx: Ctx, raw: dict[str, Any], param: str) -> dict[str, Any]:
    """`{param}[price]`: an active recurring price."""
    price_id = take_str(raw, "price", param=f"{param}[price]", required=True)
    price = ctx.account.require("price", price_id, param=f"{param}[price]")
    if price["recurring"] is None:
        raise invalid(
            f"{param}[price]",
            f"The price specified ({price_id}) is a one-time price; subscriptions need recurring prices.",
        )
    if not price["active"]:
        raise invalid(f"{param}[price]", f"The price specified ({price_id}) is inactive.")
    return price


def current_period(ctx: Ctx, sub: dict[str, Any]) -> tuple[int, int]:
    item = ctx.account.objects[sub["_items"][0]]
    return item["current_period_start"], item["current_period_end"]


def build_item(
    sub_id: str,
    price: dict[str, Any],
    quantity: int,
    metadata: dict[str, str],
    period: tuple[int, int],
    at: int,
    item_id: str | None = None,
) -> dict[str, Any]:
    """A subscription item, not stored."""
    return {
        "id": item_id or new_id("si"),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": at,
        "current_period_end": period[1],
        "current_period_start": period[0],
        "discounts": [],
        "metadata": metadata,
        "price": None,  # rendered from `_price`
        "plan": None,
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
        "_price": price["id"],
    }


def new_subscription(
    ctx: Ctx,
    cus: dict[str, Any],
    specs: list[tuple[dict[str, Any], int, dict[str, str]]],
    *,
    now: int,
    period: tuple[int, int],
    trial_end: int | None,
    collection_method: str,
    days_until_due: int | None,
    default_payment_method: str | None,
    description: str | None,
    metadata: dict[str, str],
) -> dict[str, Any]:
    """An `incomplete` subscription (flagged `_creating` until the caller emits its creation),
    with one item per (price, quantity, metadata) spec, all on `period`."""
    start, end = period
    sub_id = new_id("sub")
    sub: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": end if trial_end else start,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": collection_method,
        "created": now,
        "currency": specs[0][0]["currency"],
        "customer": cus["id"],
        "customer_account": None,
        "days_until_due": days_until_due,
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": start,
        "status": "incomplete",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": start if trial_end else None,
        "_items": [],
        "_creating": True,
    }
    ctx.account.add(sub)
    for price, qty, meta in specs:
        sub["_items"].append(ctx.account.add(build_item(sub_id, price, qty, meta, period, start))["id"])
    return sub


def bill_first_period(ctx: Ctx, sub: dict[str, Any], *, trial: bool, attempt: bool) -> None:
    """The creation invoice: $0 for a trial (→ `trialing`), else the first period's, charged unless
    `attempt` is off (→ `active` once paid, or at once when the invoice is sent)."""
    start, end = current_period(ctx, sub)
    if trial:
        bill_period(
            ctx,
            sub,
            (start, end),
            reason="subscription_create",
            at=start,
            invoice_period=(start, start),
            trial=True,
        )
        sub["status"] = "trialing"
    else:
        inv = bill_period(
            ctx,
            sub,
            (start, end),
            reason="subscription_create",
            at=start,
            invoice_period=(start, start),
            attempt=attempt,
        )
        if inv["status"] == "paid" or sub["collection_method"] == "send_invoice":
            sub["status"] = "active"


@dataclass(frozen=True)
class Billed:
    """What one subscription item bills each period: its price and quantity."""

    item_id: str
    price: dict[str, Any]
    quantity: int


def billed_items(ctx: Ctx, sub: dict[str, Any]) -> list[Billed]:
    return [Billed(item["id"], price_of(ctx, item), item["quantity"]) for item in items_of(ctx, sub)]


def product_name(ctx: Ctx, price: dict[str, Any]) -> str:
    return ctx.account.objects.get(price["product"], {}).get("name") or price["product"]


def cycle_lines(
    ctx: Ctx, sub_id: str, billed: list[Billed], period: tuple[int, int], trial: bool = False
) -> list[dict[str, Any]]:
    """One line per item for a whole period (a trial's at $0)."""
    lines = []
    for item in billed:
        price, qty = item.price, item.quantity
        product = product_name(ctx, price)
        text = f"Trial period for {product}" if trial else f"{qty} × {product} (at {_price_text(price)})"
        lines.append(
            new_line(
                ctx,
                amount=0 if trial else price["unit_amount"] * qty,
                currency=price["currency"],
                description=text,
                period=period,
                quantity=qty,
                unit_amount=0 if trial else price["unit_amount"],
                subscription=sub_id,
                subscription_item=item.item_id,
            )
        )
    return lines


def pending_items(ctx: Ctx, sub_id: str) -> list[dict[str, Any]]:
    """The subscription's invoice items not yet on an invoice (prorations): its next invoice takes them."""
    return [
        ii
        for ii in ctx.account.all("invoiceitem")
        if ii["invoice"] is None and item_subscription(ii)[0] == sub_id
    ]


def period_invoice(
    ctx: Ctx,
    sub: dict[str, Any],
    *,
    pending: list[dict[str, Any]],
    billed: list[Billed],
    period: tuple[int, int] | None,
    reason: str,
    at: int,
    invoice_period: tuple[int, int],
    trial: bool = False,
    inv_id: str | None = None,
) -> dict[str, Any]:
    """A subscription's draft invoice, not stored: the `pending` invoice items' lines, then a
    line per billed item for `period` (none when `period` is None). Billing and the invoice
    preview both build through here, so they cannot disagree."""
    inv_id = inv_id or new_id("in")
    lines = [invoice_item_line(ctx, ii, inv_id) for ii in pending]
    if period is not None:
        lines += cycle_lines(ctx, sub["id"], billed, period, trial)
    return build_invoice(
        ctx,
        ctx.account.require("customer", sub["customer"]),
        lines=lines,
        currency=sub["currency"],
        billing_reason=reason,
        collection_method=sub["collection_method"],
        days_until_due=sub["days_until_due"],
        subscription=sub,
        period=invoice_period,
        at=at,
        inv_id=inv_id,
        coupons=invoice_coupons(ctx, sub, at),
    )


def _price_text(price: dict[str, Any]) -> str:
    rec = price["recurring"]
    every = rec["interval"] if rec["interval_count"] == 1 else f"{rec['interval_count']} {rec['interval']}s"
    return f"{format_amount(price['unit_amount'], price['currency'])} / {every}"


def issue_invoice(
    ctx: Ctx,
    sub: dict[str, Any],
    inv: dict[str, Any],
    pending: list[dict[str, Any]],
    *,
    at: int,
    attempt: bool = True,
) -> dict[str, Any]:
    """Store a `period_invoice` draft (marking its pending items invoiced), finalize it and, when
    collected automatically, charge it. While collection is paused, no charge: the invoice is
    voided, marked uncollectible or left draft, as `pause_collection.behavior` says."""
    store_invoice(ctx, ctx.account.require("customer", sub["customer"]), inv)
    for ii in pending:
        ii["invoice"] = inv["id"]
    sub["latest_invoice"] = inv["id"]
    after_invoiced(ctx, sub, inv, at)
    pause = sub["pause_collection"]
    if pause is not None:
        _hold(ctx, inv, pause["behavior"], at)
        return inv
    finalize(ctx, inv, at=at)
    if inv["status"] == "open" and sub["collection_method"] == "charge_automatically" and attempt:
        attempt_payment(ctx, inv, at=at)
    return inv


def _hold(ctx: Ctx, inv: dict[str, Any], behavior: str, at: int) -> None:
    """A paused subscription's invoice: never charged."""
    inv["auto_advance"] = False
    if behavior == "keep_as_draft":
        return
    finalize(ctx, inv, at=at)
    if inv["status"] != "open":  # a $0 invoice is paid at finalization
        return
    inv["next_payment_attempt"] = None
    if behavior == "void":
        inv.update(status="void", amount_remaining=0)
        inv["status_transitions"] = {**inv["status_transitions"], "voided_at": at}
        ctx.emit("invoice.voided", inv)
    else:
        inv["status"] = "uncollectible"
        inv["status_transitions"] = {**inv["status_transitions"], "marked_uncollectible_at": at}
        ctx.emit("invoice.marked_uncollectible", inv)


def bill_period(
    ctx: Ctx,
    sub: dict[str, Any],
    period: tuple[int, int],
    *,
    reason: str,
    at: int,
    invoice_period: tuple[int, int],
    trial: bool = False,
    attempt: bool = True,
) -> dict[str, Any]:
    """Create, finalize and (when collected automatically) charge the invoice for one period,
    with the subscription's pending invoice items (prorations) on it."""
    pending = pending_items(ctx, sub["id"])
    inv = period_invoice(
        ctx,
        sub,
        pending=pending,
        billed=billed_items(ctx, sub),
        period=period,
        reason=reason,
        at=at,
        invoice_period=invoice_period,
        trial=trial,
    )
    return issue_invoice(ctx, sub, inv, pending, at=at, attempt=attempt)


def cancel_now(
    ctx: Ctx, sub: dict[str, Any], at: int | None = None, reason: str = "cancellation_requested"
) -> None:
    now = at if at is not None else ctx.now()
    previous = sub["status"]
    sub.update(status="canceled", ended_at=now, canceled_at=sub["canceled_at"] or now)
    sub["cancellation_details"] = {**sub["cancellation_details"], "reason": reason}
    for inv in ctx.account.all("invoice"):
        parent = inv["parent"] or {}
        if (
            previous == "incomplete"
            and inv["status"] == "open"
            and (parent.get("subscription_details") or {}).get("subscription") == sub["id"]
        ):
            inv["status"] = "void"
            inv["status_transitions"] = {**inv["status_transitions"], "voided_at": now}
            ctx.emit("invoice.voided", inv)
    ctx.emit("customer.subscription.deleted", sub, {"status": previous})
    schedule = ctx.account.get("subscription_schedule", sub["schedule"])
    if schedule is not None and schedule["status"] in ("not_started", "active"):
        cancel_schedule(ctx, schedule, now)


def cancel_schedule(ctx: Ctx, schedule: dict[str, Any], at: int) -> None:
    """A subscription schedule ends with its subscription (or is canceled, which cancels that)."""
    schedule.update(status="canceled", canceled_at=at, current_phase=None)
    ctx.emit("subscription_schedule.canceled", schedule)


PAUSE_BEHAVIORS = ("keep_as_draft", "mark_uncollectible", "void")


def take_pause_collection(params: dict[str, Any], now: int) -> dict[str, Any] | None:
    """`pause_collection[behavior]` (+ `[resumes_at]`, in the future); `pause_collection=""` resumes."""
    raw = params["pause_collection"]
    if raw == "":
        return None
    if not isinstance(raw, dict):
        raise invalid("pause_collection", "Invalid object: pause_collection must be a hash")
    behavior = take_str(
        raw, "behavior", param="pause_collection[behavior]", required=True, choices=PAUSE_BEHAVIORS
    )
    resumes_at = take_int(raw, "resumes_at", param="pause_collection[resumes_at]")
    if resumes_at is not None and resumes_at <= now:
        raise invalid(
            "pause_collection[resumes_at]",
            "Invalid timestamp: must be an integer Unix timestamp in the future.",
            code="parameter_invalid_integer",
        )
    return {"behavior": behavior, "resumes_at": resumes_at}
