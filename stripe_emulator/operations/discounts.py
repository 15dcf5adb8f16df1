"""Coupons, promotion codes and discounts, as Stripe computes them on invoices.

A coupon is `percent_off` or `amount_off` (+ `currency`) for a `duration`: `once` (one
invoice), `repeating` (`duration_in_months` from redemption: an invoice created before
`discount.end` is discounted, later ones are full price) or `forever`. Redeeming one (directly
or through a promotion code) creates a `discount` object on the subscription.

On an invoice each discountable line gets its share: percent rounded half away from zero per
line; amount_off capped at what is left of the subtotal and spread over the positive lines in
proportion (the last one takes the rounding remainder). `subtotal` stays before discounts;
`total` and `amount_due` are after them.

The arithmetic is pure (the invoice carries its coupons in `_coupons`), so `invoices` can
recompute a draft without importing anything above it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.ids import new_id
from stripe_emulator.periods import add_interval
from stripe_emulator.render import copy_json

DURATIONS = ("forever", "once", "repeating")


# --- invoice arithmetic -------------------------------------------------------------------


def round_half_away(value: Decimal) -> int:
    rounded = int(abs(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return -rounded if value < 0 else rounded


def apply_to_invoice(inv: dict[str, Any]) -> None:
    """Set the lines' `discount_amounts`, the invoice's `discounts`, `total_discount_amounts`
    and its totals from `_coupons` (a list of (discount id, coupon snapshot))."""
    lines = inv["_lines"]
    totals: dict[str, int] = {}
    for line in lines:
        line["discount_amounts"], line["discounts"] = [], []
    for di_id, coupon in inv.get("_coupons", []):
        shares = _shares(lines, coupon)
        for line, share in zip(lines, shares, strict=True):
            if line["discountable"]:
                line["discount_amounts"].append({"amount": share, "discount": di_id})
                line["discounts"].append(di_id)
        totals[di_id] = sum(shares)
    inv["discounts"] = list(totals)
    inv["total_discount_amounts"] = [{"amount": a, "discount": d} for d, a in totals.items()]
    subtotal = sum(line["amount"] for line in lines)
    total = subtotal - sum(totals.values())
    inv.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=total,
        total_excluding_tax=total,
        amount_due=total,
        amount_remaining=total - inv["amount_paid"],
    )


def _left(line: dict[str, Any]) -> int:
    """A line's amount after the discounts already applied to it."""
    return line["amount"] - sum(d["amount"] for d in line["discount_amounts"])


def _shares(lines: list[dict[str, Any]], coupon: dict[str, Any]) -> list[int]:
    eligible = [line if line["discountable"] else None for line in lines]
    if coupon["percent_off"] is not None:
        pct = Decimal(str(coupon["percent_off"])) / 100
        return [round_half_away(_left(line) * pct) if line else 0 for line in eligible]
    positive = [_left(line) if line and _left(line) > 0 else 0 for line in eligible]
    base = sum(positive)
    cap = max(min(coupon["amount_off"], sum(_left(line) for line in lines if line)), 0)
    shares = [0] * len(lines)
    if base <= 0 or cap == 0:
        return shares
    last = max(i for i, amount in enumerate(positive) if amount > 0)
    for i, amount in enumerate(positive):
        if amount > 0 and i != last:
            shares[i] = round_half_away(Decimal(cap) * amount / base)
    shares[last] = cap - sum(shares)
    return shares


# --- coupons ------------------------------------------------------------------------------


def coupon_usable(coupon: dict[str, Any], now: int) -> bool:
    """`valid`: not deleted, not past `redeem_by`, not out of redemptions."""
    if coupon.get("deleted"):
        return False
    if coupon["redeem_by"] is not None and coupon["redeem_by"] <= now:
        return False
    limit = coupon["max_redemptions"]
    return limit is None or coupon["times_redeemed"] < limit


def require_coupon(ctx: Ctx, coupon_id: Any, param: str) -> dict[str, Any]:
    coupon = ctx.account.require("coupon", coupon_id, param=param)
    if not coupon_usable(coupon, ctx.now()):
        raise invalid(param, f"Coupon {coupon['id']} is no longer valid.", code="coupon_expired")
    return coupon


# --- promotion codes ----------------------------------------------------------------------


def _refuse(code: dict[str, Any], why: str, param: str) -> StripeError:
    return StripeError(
        f"This promotion code cannot be redeemed because {why}.",
        code="promotion_code_invalid",
        param=param,
    )


def has_paid_before(ctx: Ctx, customer_id: str) -> bool:
    """Stripe's `first_time_transaction`: the customer has never paid anything."""
    return any(
        inv["customer"] == customer_id and inv["status"] == "paid" and inv["amount_paid"] > 0
        for inv in ctx.account.all("invoice")
    )


def require_promotion_code(ctx: Ctx, promo_id: Any, customer_id: str, param: str) -> dict[str, Any]:
    """The promotion code, if this customer may redeem it now; else Stripe's refusal, naming why."""
    promo = ctx.account.require("promotion_code", promo_id, param=param, kind="promotion code")
    now = ctx.now()
    coupon = ctx.account.require("coupon", promo["promotion"]["coupon"], param=param)
    if not promo["active"]:
        raise _refuse(promo, f"it is inactive ({promo['code']})", param)
    if promo["expires_at"] is not None and promo["expires_at"] <= now:
        raise _refuse(promo, f"it has expired ({promo['code']})", param)
    limit = promo["max_redemptions"]
    if limit is not None and promo["times_redeemed"] >= limit:
        raise _refuse(promo, f"it has reached its maximum number of redemptions ({promo['code']})", param)
    if promo["customer"] is not None and promo["customer"] != customer_id:
        raise _refuse(promo, f"it is restricted to another customer ({promo['code']})", param)
    if promo["restrictions"]["first_time_transaction"] and has_paid_before(ctx, customer_id):
        raise _refuse(
            promo, f"it is only for first-time customers and this customer has paid before ({promo['code']})",
            param,
        )
    if not coupon_usable(coupon, now):
        raise _refuse(promo, f"its coupon is no longer valid ({promo['code']})", param)
    return promo


# --- discounts on a subscription --------------------------------------------------------------


def resolve_discounts(
    ctx: Ctx, customer_id: str, currency: str, params: dict[str, Any]
) -> list[tuple[dict[str, Any], dict[str, Any] | None]] | None:
    """(coupon, promotion code) pairs asked for by `discounts[i][coupon|promotion_code]` or the
    legacy `coupon` / `promotion_code`; None when the request says nothing, [] when it clears
    (`discounts=""`). Validated, nothing redeemed."""
    wanted: list[tuple[str, Any, str]] = []
    if params.get("coupon"):
        wanted.append(("coupon", params["coupon"], "coupon"))
    if params.get("promotion_code"):
        wanted.append(("promotion_code", params["promotion_code"], "promotion_code"))
    raw = params.get("discounts")
    if raw == "" and not wanted:
        return []
    if isinstance(raw, list):
        for i, entry in enumerate(raw):
            if not isinstance(entry, dict) or len(set(entry) & {"coupon", "promotion_code"}) != 1:
                raise invalid(
                    f"discounts[{i}]", "Each discount takes exactly one of coupon or promotion_code."
                )
            kind = "coupon" if "coupon" in entry else "promotion_code"
            wanted.append((kind, entry[kind], f"discounts[{i}][{kind}]"))
    elif raw not in (None, ""):
        raise invalid("discounts", "Invalid array: discounts")
    if not wanted and "discounts" not in params:
        return None
    out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for kind, value, param in wanted:
        if kind == "coupon":
            out.append((require_coupon(ctx, value, param), None))
        else:
            promo = require_promotion_code(ctx, value, customer_id, param)
            out.append((ctx.account.require("coupon", promo["promotion"]["coupon"]), promo))
    for (coupon, _), (_, _, param) in zip(out, wanted, strict=True):
        if coupon["amount_off"] is not None and coupon["currency"] != currency:
            raise invalid(
                param,
                f"The coupon's currency ({coupon['currency']}) must match the subscription's ({currency}).",
            )
    if len({c["id"] for c, _ in out}) < len(out):
        raise invalid("discounts", "The same coupon cannot be applied twice.")
    return out


def redeem(
    ctx: Ctx, sub: dict[str, Any], wanted: list[tuple[dict[str, Any], dict[str, Any] | None]], at: int
) -> None:
    """Replace the subscription's discounts with new ones for `wanted` (counting redemptions)."""
    sub["discounts"] = []
    for coupon, promo in wanted:
        coupon["times_redeemed"] += 1
        coupon["valid"] = coupon_usable(coupon, at)
        if promo is not None:
            promo["times_redeemed"] += 1
        end = (
            add_interval(at, "month", coupon["duration_in_months"])
            if coupon["duration"] == "repeating"
            else None
        )
        discount = {
            "id": new_id("di"),
            "object": "discount",
            "checkout_session": None,
            "customer": sub["customer"],
            "customer_account": None,
            "end": end,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": promo["id"] if promo is not None else None,
            "source": {"coupon": coupon["id"], "type": "coupon"},
            "start": at,
            "subscription": sub["id"],
            "subscription_item": None,
            "_coupon": copy_json({k: v for k, v in coupon.items() if not k.startswith("_")}),
        }
        sub["discounts"].append(ctx.account.add(discount)["id"])
        ctx.emit("customer.discount.created", discount)


def invoice_coupons(ctx: Ctx, sub: dict[str, Any], at: int) -> list[tuple[str, dict[str, Any]]]:
    """The (discount id, coupon) pairs an invoice of `sub` created at `at` gets."""
    out = []
    for di_id in sub["discounts"]:
        discount = ctx.account.get("discount", di_id)
        if discount is None or (discount["end"] is not None and discount["end"] <= at):
            continue
        out.append((di_id, discount["_coupon"]))
    return out


def after_invoiced(ctx: Ctx, sub: dict[str, Any], inv: dict[str, Any], at: int) -> None:
    """Once an invoice is issued: a `once` discount it used is spent, a repeating one past its
    end is over; both leave the subscription (as Stripe removes them)."""
    used = set(inv["discounts"])
    keep = []
    for di_id in sub["discounts"]:
        discount = ctx.account.get("discount", di_id)
        if discount is None:
            continue
        # A $0 invoice (a trial's) does not spend a `once` coupon: the first paid one does.
        spent = discount["_coupon"]["duration"] == "once" and di_id in used and inv["subtotal"] > 0
        over = discount["end"] is not None and discount["end"] <= at
        if spent or over:
            discount["end"] = discount["end"] if over else at
            continue
        keep.append(di_id)
    sub["discounts"] = keep
