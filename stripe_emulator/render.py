"""Stored object → the JSON Stripe would return (private keys dropped, `expand[]` applied)."""

from __future__ import annotations

from typing import Any, Protocol

from stripe_emulator.errors import StripeError
from stripe_emulator.registry import RENDERERS
from stripe_emulator.store import Account


class RenderCtx(Protocol):
    """What rendering reads: the account (expansion) and, in the renderers, the clock and
    base URL. `context.Ctx` satisfies it; declared here so `context` can import `render`
    without `render` importing `context` back."""

    account: Account

    def now(self) -> int: ...

    def url(self, path: str) -> str: ...

# Fields that hold an id Stripe lets you expand into the object.
EXPANDABLE = frozenset(
    {
        "customer",
        "default_payment_method",
        "payment_method",
        "latest_invoice",
        "setup_intent",
        "product",
        "subscription",
        "invoice",
        "default_price",
        "pending_setup_intent",
        "test_clock",
        "default_source",
        "subscription_item",
        "invoice_item",
        "price",
        "schedule",
        "coupon",
        "promotion_code",
        "discount",
        "discounts",
    }
)
MAX_EXPAND_DEPTH = 4


def copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def public_copy(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: copy_json(v) for k, v in obj.items() if not k.startswith("_")}


def render(ctx: RenderCtx, obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("object") in ("list", "search_result"):
        return {**obj, "data": [render(ctx, o) for o in obj["data"]]}
    out = public_copy(obj)
    if obj.get("deleted"):
        return out
    fn = RENDERERS.get(obj["object"])
    return fn(ctx, obj, out) if fn else out


def expand(ctx: RenderCtx, data: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    for path in paths:
        parts = path.split(".")
        if len([p for p in parts if p != "data"]) > MAX_EXPAND_DEPTH:
            raise StripeError(
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. Property: {path}",
                param="expand",
            )
        _expand(ctx, data, parts, path)
    return data


def _expand(ctx: RenderCtx, node: Any, parts: list[str], path: str) -> None:
    if isinstance(node, list):
        for item in node:
            _expand(ctx, item, parts, path)
        return
    key, rest = parts[0], parts[1:]
    if not isinstance(node, dict) or key not in node:
        raise StripeError(f"This property cannot be expanded ({key}).", param="expand")
    value = node[key]
    if isinstance(value, list) and key in EXPANDABLE and all(isinstance(v, str) for v in value):
        # A list of ids (`discounts`): each one expands.
        targets = [ctx.account.objects.get(v) for v in value]
        if any(t is None for t in targets):
            raise StripeError(f"This property cannot be expanded ({key}).", param="expand")
        node[key] = value = [render(ctx, t) for t in targets if t is not None]
    elif isinstance(value, str):
        target = ctx.account.objects.get(value) or _redeemed_coupon(ctx, key, value)
        if key not in EXPANDABLE or target is None:
            raise StripeError(f"This property cannot be expanded ({key}).", param="expand")
        node[key] = value = render(ctx, target)
    if rest and value is not None:
        _expand(ctx, value, rest, path)


def _redeemed_coupon(ctx: RenderCtx, key: str, coupon_id: str) -> dict[str, Any] | None:
    """A deleted coupon still describes the discounts that redeemed it, as in Stripe (retrieving
    it is a 404, expanding a discount's coupon is not): the copy those discounts keep."""
    if key != "coupon":
        return None
    return next((d["_coupon"] for d in ctx.account.all("discount") if d["_coupon"]["id"] == coupon_id), None)
