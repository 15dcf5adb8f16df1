"""/v1/coupons, /v1/promotion_codes and a subscription's discount (`DELETE .../discount`).

The arithmetic and the redemption rules live in `operations.discounts`; these routes create,
show and list the objects, with Stripe's parameter errors.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from stripe_emulator.context import Ctx, changed
from stripe_emulator.errors import StripeError, invalid, missing
from stripe_emulator.ids import random_text
from stripe_emulator.listing import paginate
from stripe_emulator.operations.discounts import DURATIONS, coupon_usable
from stripe_emulator.registry import renderer, route
from stripe_emulator.render import render
from stripe_emulator.wire import check_known, merge_metadata, take_bool, take_dict, take_int, take_str

_CODE = re.compile(r"^[A-Za-z0-9_-]{3,500}$")


@renderer("coupon")
def _render_coupon(ctx: Ctx, obj: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    out["valid"] = coupon_usable(obj, ctx.now())
    return out


# --- coupons ------------------------------------------------------------------------------


def _percent(params: dict[str, Any]) -> float | None:
    raw = params.get("percent_off")
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise invalid("percent_off", f"Invalid decimal: {raw}", code="parameter_invalid_decimal") from None
    if not Decimal(0) < value <= Decimal(100):
        raise invalid(
            "percent_off",
            "percent_off must be greater than 0 and at most 100.",
            code="parameter_invalid_decimal",
        )
    return float(value)


@route("POST", "/v1/coupons")
def create_coupon(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {"id", "percent_off", "amount_off", "currency", "duration", "duration_in_months",
             "max_redemptions", "redeem_by", "metadata", "name"}
        ),
    )
    percent = _percent(params)
    amount = take_int(params, "amount_off", minimum=1)
    if percent is not None and amount is not None:
        raise invalid(
            "percent_off",
            "You may only specify one of these parameters: amount_off, percent_off.",
            code="parameter_invalid_string",
        )
    if percent is None and amount is None:
        raise missing("percent_off")
    currency = take_str(params, "currency")
    if amount is not None and currency is None:
        raise missing("currency")
    duration = take_str(params, "duration", choices=DURATIONS) or "once"
    months = take_int(params, "duration_in_months", minimum=1)
    if duration == "repeating" and months is None:
        raise missing("duration_in_months")
    if duration != "repeating" and months is not None:
        raise invalid(
            "duration_in_months", "duration_in_months is only valid with duration=repeating.",
            code="parameter_invalid_integer",
        )
    redeem_by = take_int(params, "redeem_by")
    if redeem_by is not None and redeem_by <= ctx.now():
        raise invalid("redeem_by", "redeem_by must be in the future.", code="parameter_invalid_integer")
    coupon_id = take_str(params, "id") or random_text(8)
    if ctx.account.get("coupon", coupon_id) is not None:
        raise StripeError("Coupon already exists.", code="resource_already_exists", param="id")
    coupon = {
        "id": coupon_id,
        "object": "coupon",
        "amount_off": amount,
        "created": ctx.now(),
        "currency": currency.lower() if currency else None,
        "duration": duration,
        "duration_in_months": months,
        "livemode": False,
        "max_redemptions": take_int(params, "max_redemptions", minimum=1),
        "metadata": merge_metadata({}, params),
        "name": take_str(params, "name"),
        "percent_off": percent,
        "redeem_by": redeem_by,
        "times_redeemed": 0,
        "valid": True,
    }
    ctx.account.add(coupon)
    ctx.emit("coupon.created", coupon)
    return coupon


@route("GET", "/v1/coupons/{coupon}")
def retrieve_coupon(ctx: Ctx, params: dict[str, Any], coupon: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("coupon", coupon)


@route("DELETE", "/v1/coupons/{coupon}")
def delete_coupon(ctx: Ctx, params: dict[str, Any], coupon: str) -> dict[str, Any]:
    """Existing discounts keep applying (they hold the coupon as redeemed), as in Stripe."""
    check_known(params, frozenset())
    obj = ctx.account.require("coupon", coupon)
    ctx.account.remove(obj)
    ctx.emit("coupon.deleted", obj)
    return {"id": obj["id"], "object": "coupon", "deleted": True}


@route("GET", "/v1/coupons")
def list_coupons(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, frozenset({"limit", "starting_after", "ending_before", "created"}))
    return paginate(params, ctx.account.all("coupon"), "/v1/coupons")


# --- promotion codes ----------------------------------------------------------------------


@route("POST", "/v1/promotion_codes")
def create_promotion_code(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset({"promotion", "code", "active", "customer", "expires_at", "max_redemptions",
                   "metadata", "restrictions"}),
    )
    promotion = take_dict(params, "promotion")
    if promotion is None:
        raise missing("promotion")
    take_str(promotion, "type", param="promotion[type]", required=True, choices=("coupon",))
    coupon_id = take_str(promotion, "coupon", param="promotion[coupon]", required=True)
    coupon = ctx.account.require("coupon", coupon_id, param="promotion[coupon]")
    code = take_str(params, "code") or random_text(8).upper()
    if not _CODE.match(code):
        raise invalid("code", "A promotion code may contain only letters, digits, '-' and '_'.")
    active = take_bool(params, "active")
    active = True if active is None else active
    if active and _active_code(ctx, code) is not None:
        raise StripeError(
            "An active promotion code with `code` already exists.",
            code="resource_already_exists",
            param="code",
        )
    expires_at = take_int(params, "expires_at")
    if expires_at is not None and expires_at <= ctx.now():
        raise invalid("expires_at", "expires_at must be in the future.", code="parameter_invalid_integer")
    customer = take_str(params, "customer")
    if customer is not None:
        ctx.account.require("customer", customer, param="customer")
    restrictions = take_dict(params, "restrictions") or {}
    first_time = take_bool(
        restrictions, "first_time_transaction", param="restrictions[first_time_transaction]"
    )
    promo = {
        "id": "promo_" + random_text(24),
        "object": "promotion_code",
        "active": active,
        "code": code,
        "created": ctx.now(),
        "customer": customer,
        "customer_account": None,
        "expires_at": expires_at,
        "livemode": False,
        "max_redemptions": take_int(params, "max_redemptions", minimum=1),
        "metadata": merge_metadata({}, params),
        "promotion": {"coupon": coupon["id"], "type": "coupon"},
        "restrictions": {
            "first_time_transaction": bool(first_time),
            "minimum_amount": None,
            "minimum_amount_currency": None,
        },
        "times_redeemed": 0,
    }
    ctx.account.add(promo)
    ctx.emit("promotion_code.created", promo)
    return promo


def _active_code(ctx: Ctx, code: str) -> dict[str, Any] | None:
    """Codes are unique among active ones, case-insensitively (as customers type them)."""
    return next(
        (p for p in ctx.account.all("promotion_code") if p["active"] and p["code"].lower() == code.lower()),
        None,
    )


@route("GET", "/v1/promotion_codes/{promo}")
def retrieve_promotion_code(ctx: Ctx, params: dict[str, Any], promo: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("promotion_code", promo, kind="promotion code")


@route("POST", "/v1/promotion_codes/{promo}")
def update_promotion_code(ctx: Ctx, params: dict[str, Any], promo: str) -> dict[str, Any]:
    check_known(params, frozenset({"active", "metadata", "restrictions"}))
    obj = ctx.account.require("promotion_code", promo, kind="promotion code")
    before = render(ctx, obj)
    active = take_bool(params, "active")
    if active and not obj["active"]:
        other = _active_code(ctx, obj["code"])
        if other is not None:
            raise StripeError(
                "An active promotion code with `code` already exists.", code="resource_already_exists",
                param="active",
            )
    if active is not None:
        obj["active"] = active
    obj["metadata"] = merge_metadata(obj["metadata"], params)
    diff = changed(before, render(ctx, obj))
    if diff:
        ctx.emit("promotion_code.updated", obj, diff)
    return obj


@route("GET", "/v1/promotion_codes")
def list_promotion_codes(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset({"code", "coupon", "customer", "active", "limit", "starting_after", "ending_before",
                   "created"}),
    )
    code = take_str(params, "code")
    coupon = take_str(params, "coupon")
    customer = take_str(params, "customer")
    active = take_bool(params, "active")

    def wanted(p: dict[str, Any]) -> bool:
        return (
            (code is None or p["code"].lower() == code.lower())
            and (coupon is None or p["promotion"]["coupon"] == coupon)
            and (customer is None or p["customer"] == customer)
            and (active is None or p["active"] == active)
        )

    return paginate(
        params, (p for p in ctx.account.all("promotion_code") if wanted(p)), "/v1/promotion_codes"
    )


# --- a subscription's discount ------------------------------------------------------------


@route("DELETE", "/v1/subscriptions/{subscription}/discount")
def delete_subscription_discount(ctx: Ctx, params: dict[str, Any], subscription: str) -> dict[str, Any]:
    check_known(params, frozenset())
    sub = ctx.account.require("subscription", subscription)
    if not sub["discounts"]:
        raise StripeError(f"Subscription {sub['id']} has no discount.", status=404, code="resource_missing")
    discount = ctx.account.require("discount", sub["discounts"][0])
    before = list(sub["discounts"])
    sub["discounts"] = sub["discounts"][1:]
    ctx.emit("customer.discount.deleted", discount)
    ctx.emit("customer.subscription.updated", sub, {"discounts": before})
    # Stripe's deleted discount keeps its fields but `end`.
    return {**{k: v for k, v in discount.items() if not k.startswith("_") and k != "end"}, "deleted": True}
