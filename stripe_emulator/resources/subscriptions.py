"""/v1/subscriptions and /v1/subscription_items.

At this API version the billing period lives on each item (`current_period_start/end`);
all items of a subscription share one interval, so they share one period. The first
invoice is created, finalized and (for `charge_automatically`) paid at creation. Item
changes are planned and applied by `operations.prorations` (prorations, immediate invoices,
cycle resets, `payment_behavior`).
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx, changed
from stripe_emulator.errors import StripeError, invalid, missing
from stripe_emulator.listing import paginate
from stripe_emulator.operations.billing import run_due
from stripe_emulator.operations.cancellation import credit_unused_time, invoice_now
from stripe_emulator.operations.customers import live_customer, require_attached
from stripe_emulator.operations.discounts import redeem, resolve_discounts
from stripe_emulator.operations.payment_methods import charge
from stripe_emulator.operations.pending_updates import apply_pending
from stripe_emulator.operations.products import plan_of
from stripe_emulator.operations.prorations import (
    PAYMENT_BEHAVIORS,
    PRORATION_BEHAVIORS,
    Change,
    apply_change,
    payment_error,
    plan_change,
)
from stripe_emulator.operations.subscriptions import (
    bill_first_period,
    cancel_now,
    current_period,
    items_of,
    new_subscription,
    price_of,
    resolve_price,
    take_pause_collection,
)
from stripe_emulator.periods import add_interval
from stripe_emulator.registry import renderer, route
from stripe_emulator.render import copy_json, render
from stripe_emulator.wire import (
    check_known,
    merge_metadata,
    take_bool,
    take_dict,
    take_int,
    take_list,
    take_str,
)

DAY = 86400
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")
_STATUS_FILTERS = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)

CREATE_PARAMS = frozenset(
    {
        "customer",
        "items",
        "default_payment_method",
        "metadata",
        "cancel_at_period_end",
        "cancel_at",
        "collection_method",
        "days_until_due",
        "backdate_start_date",
        "trial_period_days",
        "trial_end",
        "payment_behavior",
        "description",
        "off_session",
        "proration_behavior",
        "currency",
        "payment_settings",
        "coupon",
        "promotion_code",
        "discounts",
    }
)
UPDATE_PARAMS = frozenset(
    {
        "items",
        "default_payment_method",
        "metadata",
        "cancel_at_period_end",
        "cancel_at",
        "collection_method",
        "days_until_due",
        "description",
        "payment_behavior",
        "proration_behavior",
        "cancellation_details",
        "off_session",
        "proration_date",
        "payment_settings",
        "billing_cycle_anchor",
        "coupon",
        "promotion_code",
        "discounts",
        "pause_collection",
    }
)


# --- items ----------------------------------------------------------------------------


@renderer("subscription_item")
def _render_item(ctx: Ctx, obj: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    price = price_of(ctx, obj)
    out["price"] = render(ctx, price)
    out["plan"] = plan_of(price)
    return out


@renderer("subscription")
def _render(ctx: Ctx, obj: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    out["items"] = {
        "object": "list",
        "data": [render(ctx, item) for item in items_of(ctx, obj)],
        "has_more": False,
        "url": f"/v1/subscription_items?subscription={obj['id']}",
    }
    return out


# --- create ---------------------------------------------------------------------------


def _check_default_pm(ctx: Ctx, cus: dict[str, Any], pm_id: str | None) -> None:
    if pm_id is not None:
        require_attached(ctx, cus, pm_id, "default_payment_method")


@route("POST", "/v1/subscriptions")
def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, CREATE_PARAMS)
    cus = live_customer(ctx, take_str(params, "customer", required=True), "customer")
    raw_items = take_list(params, "items")
    if not raw_items:
        raise missing("items")
    if len(raw_items) > 20:
        raise invalid("items", "A subscription can have at most 20 items.")
    specs = []
    for i, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise invalid(f"items[{i}]", "Invalid hash")
        price = resolve_price(ctx, raw, f"items[{i}]")
        specs.append(
            (
                price,
                take_int(raw, "quantity", param=f"items[{i}][quantity]", minimum=1) or 1,
                merge_metadata({}, raw),
            )
        )
    intervals = {(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p, _, _ in specs}
    currencies = {p["currency"] for p, _, _ in specs}
    if len(intervals) > 1:
        raise invalid(
            "items",
            "All prices on a subscription must have the same `recurring.interval` and `recurring.interval_count`.",
        )
    if len(currencies) > 1:
        raise invalid("items", "All prices on a subscription must have the same currency.")
    if len({p["id"] for p, _, _ in specs}) < len(specs):
        raise invalid("items", "Cannot add multiple subscription items with the same price.")
    dpm = take_str(params, "default_payment_method")
    _check_default_pm(ctx, cus, dpm)
    method = (
        take_str(params, "collection_method", choices=("charge_automatically", "send_invoice"))
        or "charge_automatically"
    )
    days = take_int(params, "days_until_due", minimum=0)
    if method == "send_invoice" and days is None:
        raise missing("days_until_due")
    behavior = (
        take_str(
            params,
            "payment_behavior",
            choices=(
                "allow_incomplete",
                "default_incomplete",
                "error_if_incomplete",
                "pending_if_incomplete",
            ),
        )
        or "allow_incomplete"
    )

    now = ctx.now()
    start = take_int(params, "backdate_start_date")
    if start is not None and start > now:
        raise invalid("backdate_start_date", "backdate_start_date must be in the past.")
    start = start if start is not None else now
    interval, count = next(iter(intervals))
    trial_end = _trial_end(params, specs, start, now)
    period_end = trial_end if trial_end else add_interval(start, interval, count)
    wanted_discounts = resolve_discounts(ctx, cus["id"], specs[0][0]["currency"], params)
    pm_id = dpm or cus["invoice_settings"]["default_payment_method"]
    pm = ctx.account.get("payment_method", pm_id)
    if method == "charge_automatically" and behavior == "error_if_incomplete" and not trial_end:
        charge(pm)  # fail before creating anything, as Stripe does
    sub = new_subscription(
        ctx,
        cus,
        specs,
        now=now,
        period=(start, period_end),
        trial_end=trial_end,
        collection_method=method,
        days_until_due=days,
        default_payment_method=dpm,
        description=take_str(params, "description"),
        metadata=merge_metadata({}, params),
    )
    if wanted_discounts:
        redeem(ctx, sub, wanted_discounts, start)
    bill_first_period(ctx, sub, trial=bool(trial_end), attempt=behavior != "default_incomplete")
    _apply_cancel(ctx, sub, params, now)
    del sub["_creating"]
    ctx.emit("customer.subscription.created", sub)
    if start < now and sub["status"] in ("active", "trialing"):
        # Emulator extension: replay the periods a backdated subscription has lived through.
        run_due(ctx, [sub])
    return sub


def _trial_end(params: dict[str, Any], specs: list[Any], start: int, now: int) -> int | None:
    if params.get("trial_end") == "now":
        return None
    end = take_int(params, "trial_end")
    if end is not None:
        if end <= now:
            raise invalid("trial_end", "Invalid timestamp: must be an integer Unix timestamp in the future.")
        return end
    days = take_int(params, "trial_period_days", minimum=0)
    if days is None:
        days = max((p["recurring"]["trial_period_days"] or 0 for p, _, _ in specs), default=0) or None
    return start + days * DAY if days else None


def _apply_cancel(ctx: Ctx, sub: dict[str, Any], params: dict[str, Any], now: int) -> None:
    if "cancel_at_period_end" in params:
        flag = bool(take_bool(params, "cancel_at_period_end"))
        sub["cancel_at_period_end"] = flag
        sub["cancel_at"] = current_period(ctx, sub)[1] if flag else None
        sub["canceled_at"] = now if flag else None
        if not flag:
            sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": None}
        else:
            sub["cancellation_details"] = {**sub["cancellation_details"], "reason": "cancellation_requested"}
    if "cancel_at" in params:
        at = take_int(params, "cancel_at")
        if at is not None and at <= now:
            raise invalid("cancel_at", "cancel_at must be in the future.")
        sub["cancel_at"] = at
        sub["cancel_at_period_end"] = at is not None and at == current_period(ctx, sub)[1]
        sub["canceled_at"] = now if at is not None else None
    details = take_dict(params, "cancellation_details")
    if details is not None:
        sub["cancellation_details"] = {
            **sub["cancellation_details"],
            "comment": take_str(details, "comment", param="cancellation_details[comment]"),
            "feedback": take_str(
                details,
                "feedback",
                param="cancellation_details[feedback]",
                choices=(
                    "customer_service",
                    "low_quality",
                    "missing_features",
                    "other",
                    "switched_service",
                    "too_complex",
                    "too_expensive",
                    "unused",
                ),
            ),
        }


# --- retrieve / update / cancel / list -----------------------------------------------


@route("GET", "/v1/subscriptions/{subscription}")
def retrieve(ctx: Ctx, params: dict[str, Any], subscription: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("subscription", subscription)


@route("POST", "/v1/subscriptions/{subscription}")
def update(ctx: Ctx, params: dict[str, Any], subscription: str) -> dict[str, Any]:
    check_known(params, UPDATE_PARAMS)
    sub = ctx.account.require("subscription", subscription)
    if sub["status"] in ("canceled", "incomplete_expired") and set(params) - {
        "metadata",
        "cancellation_details",
        "expand",
    }:
        raise StripeError("A canceled subscription can only update its cancellation_details and metadata.")
    snapshot = copy_json(sub)
    before = render(ctx, sub)
    wanted_discounts = resolve_discounts(ctx, sub["customer"], sub["currency"], params)
    if "pause_collection" in params:
        sub["pause_collection"] = take_pause_collection(params, ctx.now())
    change = _planned_change(ctx, sub, params)
    payment_behavior = take_str(params, "payment_behavior", choices=PAYMENT_BEHAVIORS) or "allow_incomplete"
    cus = ctx.account.require("customer", sub["customer"])
    if "default_payment_method" in params:
        pm_id = take_str(params, "default_payment_method")
        _check_default_pm(ctx, cus, pm_id)
        sub["default_payment_method"] = pm_id
    if "description" in params:
        sub["description"] = take_str(params, "description")
    if "collection_method" in params:
        sub["collection_method"] = take_str(
            params, "collection_method", required=True, choices=("charge_automatically", "send_invoice")
        )
    if "days_until_due" in params:
        sub["days_until_due"] = take_int(params, "days_until_due", minimum=0)
    if sub["collection_method"] == "send_invoice" and sub["days_until_due"] is None:
        raise missing("days_until_due")
    sub["metadata"] = merge_metadata(sub["metadata"], params)
    _apply_cancel(ctx, sub, params, ctx.now())
    declined = payment_error(ctx, change) if change is not None else None
    if declined is not None and payment_behavior == "error_if_incomplete":
        # Stripe changes nothing when the charge this update needs is declined.
        sub.clear()
        sub.update(snapshot)
        raise declined
    if wanted_discounts is not None:  # redeemed last: a failed request must not count a redemption
        redeem(ctx, sub, wanted_discounts, ctx.now())
    if change is not None:
        if declined is not None and payment_behavior == "pending_if_incomplete":
            apply_pending(ctx, change)
        else:
            apply_change(ctx, change)
        if sub["cancel_at_period_end"]:
            sub["cancel_at"] = current_period(ctx, sub)[1]
    after = render(ctx, sub)
    diff = changed(before, after)
    if diff:
        ctx.emit("customer.subscription.updated", sub, diff)
    return sub


def _planned_change(ctx: Ctx, sub: dict[str, Any], params: dict[str, Any]) -> Change | None:
    """The item change `items` / `billing_cycle_anchor=now` asks for, validated (nothing applied)."""
    anchor = take_str(params, "billing_cycle_anchor", choices=("now", "unchanged"))
    raw_items = take_list(params, "items") or []
    if not raw_items and anchor != "now":
        return None
    return plan_change(
        ctx,
        sub,
        raw_items,
        behavior=take_str(params, "proration_behavior", choices=PRORATION_BEHAVIORS) or "create_prorations",
        proration_date=take_int(params, "proration_date"),
        anchor_now=anchor == "now",
    )


@route("DELETE", "/v1/subscriptions/{subscription}")
def cancel(ctx: Ctx, params: dict[str, Any], subscription: str) -> dict[str, Any]:
    check_known(params, frozenset({"invoice_now", "prorate", "cancellation_details"}))
    sub = ctx.account.require("subscription", subscription)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError(
            f"No such subscription: '{subscription}'; it has already been canceled.",
            status=404,
            code="resource_missing",
            param="id",
        )
    prorate, final_invoice = take_bool(params, "prorate"), take_bool(params, "invoice_now")
    now = ctx.now()
    _apply_cancel(ctx, sub, {k: v for k, v in params.items() if k == "cancellation_details"}, now)
    if prorate:
        credit_unused_time(ctx, sub, now)
    if final_invoice:
        invoice_now(ctx, sub, now)
    cancel_now(ctx, sub)
    return sub


@route("GET", "/v1/subscriptions")
def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {
                "customer",
                "status",
                "price",
                "collection_method",
                "limit",
                "starting_after",
                "ending_before",
                "created",
                "test_clock",
                "current_period_end",
                "current_period_start",
                "customer_account",
            }
        ),
    )
    customer = take_str(params, "customer")
    status = take_str(params, "status", choices=_STATUS_FILTERS)
    price = take_str(params, "price")
    method = take_str(params, "collection_method", choices=("charge_automatically", "send_invoice"))

    def wanted(sub: dict[str, Any]) -> bool:
        st = sub["status"]
        if status is None:
            ok = st not in ("canceled", "incomplete_expired")
        elif status == "all":
            ok = True
        elif status == "ended":
            ok = st in ("canceled", "incomplete_expired")
        else:
            ok = st == status
        return (
            ok
            and (customer is None or sub["customer"] == customer)
            and (method is None or sub["collection_method"] == method)
            and (price is None or any(i["_price"] == price for i in items_of(ctx, sub)))
        )

    return paginate(params, (s for s in ctx.account.all("subscription") if wanted(s)), "/v1/subscriptions")


@route("GET", "/v1/subscription_items")
def list_items(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, frozenset({"subscription", "limit", "starting_after", "ending_before"}))
    sub = ctx.account.require(
        "subscription", take_str(params, "subscription", required=True), param="subscription"
    )
    return paginate(params, items_of(ctx, sub), f"/v1/subscription_items?subscription={sub['id']}")


@route("GET", "/v1/subscription_items/{item}")
def retrieve_item(ctx: Ctx, params: dict[str, Any], item: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("subscription_item", item, kind="subscription item")


@route("POST", "/v1/subscription_items/{item}")
def update_item(ctx: Ctx, params: dict[str, Any], item: str) -> dict[str, Any]:
    check_known(
        params,
        frozenset({"metadata", "quantity", "price", "proration_behavior", "payment_behavior", "proration_date"}),
    )
    obj = ctx.account.require("subscription_item", item, kind="subscription item")
    sub = ctx.account.require("subscription", obj["subscription"])
    behaviors = {
        k: v for k, v in params.items() if k in ("proration_behavior", "payment_behavior", "proration_date")
    }
    item_params = {k: v for k, v in params.items() if k in ("metadata", "quantity", "price")}
    update(ctx, {"items": [{**item_params, "id": item}], **behaviors}, sub["id"])
    return obj
